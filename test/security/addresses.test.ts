import { expect } from 'chai';
import { classifyAddress, type AddressCategory } from '../../engine/security/addresses';

describe('classifyAddress', () => {
  const cases: Array<[string, AddressCategory, string?]> = [
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.128.0.1', 'public'],
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fd00:ec2::254', 'metadata'],
    ['fd12:3456::1', 'private'],
    ['fc00::1', 'private'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'],
    ['2606:4700::1111', 'public'],
    ['::ffff:127.0.0.1', 'loopback', '127.0.0.1'],
    ['::ffff:7f00:1', 'loopback', '127.0.0.1'],
    ['::ffff:169.254.169.254', 'metadata', '169.254.169.254'],
    ['::ffff:a9fe:a9fe', 'metadata', '169.254.169.254'],
    ['0:0:0:0:0:ffff:10.0.0.1', 'private', '10.0.0.1'],
    ['::10.0.0.1', 'private', '10.0.0.1'],
    ['64:ff9b::169.254.169.254', 'metadata', '169.254.169.254'],
    ['2002:a9fe:a9fe::1', 'metadata', '169.254.169.254'],
    ['::ffff:8.8.8.8', 'public', '8.8.8.8'],
  ];

  for (const [address, category, effective] of cases) {
    it(`classifies ${address} as ${category}`, () => {
      const info = classifyAddress(address);
      expect(info.category).to.equal(category);
      if (effective !== undefined) expect(info.effective).to.equal(effective);
    });
  }

  it('rejects text that is no address', () => {
    expect(() => classifyAddress('example.com')).to.throw(TypeError, 'not an IP address: "example.com"');
  });
});
