/**
 * Classification of IP addresses for the outbound request guard. IPv6 addresses that embed an
 * IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64
 * `64:ff9b::/96`, 6to4 `2002::/16`) are classified by the embedded IPv4 address, because
 * connecting to them reaches that IPv4 host.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type AddressCategory =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved';

export interface AddressInfo {
  category: AddressCategory;
  /** The address that decided the category: the embedded IPv4 address for mapped forms. */
  effective: string;
}

/** Cloud metadata services: AWS/GCP/Azure/OpenStack, Alibaba Cloud, and AWS over IPv6. */
const METADATA_V4 = ['169.254.169.254', '100.100.100.200'];
const METADATA_V6 = 'fd00:ec2:0:0:0:0:0:254';

type V4Range = [base: string, prefix: number, category: AddressCategory];

/** Checked in order; the first match wins, so narrower ranges come first. */
const V4_RANGES: V4Range[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['100.64.0.0', 10, 'private'],
  ['169.254.0.0', 16, 'link-local'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

/** Classifies an IPv4 or IPv6 address (an IPv6 zone suffix such as `%eth0` is ignored). */
export function classifyAddress(address: string): AddressInfo {
  const bare = address.replace(/%.*$/, '');
  if (isIPv4(bare)) return { category: classifyV4(parseV4(bare)), effective: bare };
  if (!isIPv6(bare)) throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);

  const words = parseV6(bare);
  const embedded = embeddedV4(words);
  if (embedded !== undefined) {
    const text = formatV4(embedded);
    return { category: classifyV4(embedded), effective: text };
  }
  return { category: classifyV6(words), effective: bare };
}

function classifyV4(value: number): AddressCategory {
  if (METADATA_V4.some((address) => parseV4(address) === value)) return 'metadata';
  for (const [base, prefix, category] of V4_RANGES) {
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    if (((value & mask) >>> 0) === parseV4(base)) return category;
  }
  return 'public';
}

function classifyV6(words: number[]): AddressCategory {
  if (words.join(':') === METADATA_V6.split(':').map((word) => parseInt(word, 16)).join(':')) return 'metadata';
  if (words.every((word) => word === 0)) return 'unspecified';
  if (words.slice(0, 7).every((word) => word === 0) && words[7] === 1) return 'loopback';
  const first = words[0];
  if ((first & 0xfe00) === 0xfc00) return 'private';
  if ((first & 0xffc0) === 0xfe80) return 'link-local';
  // fec0::/10 is deprecated site-local space: routed like private space where it is still used.
  if ((first & 0xffc0) === 0xfec0) return 'private';
  if ((first & 0xff00) === 0xff00) return 'multicast';
  return 'public';
}

/** Returns the IPv4 address embedded in an IPv6 address, as a 32-bit number, if any. */
function embeddedV4(words: number[]): number | undefined {
  const low = ((words[6] << 16) | words[7]) >>> 0;
  const zeros = (from: number, to: number): boolean => words.slice(from, to).every((word) => word === 0);
  if (zeros(0, 5) && words[5] === 0xffff) return low;
  if (words[0] === 0x64 && words[1] === 0xff9b && zeros(2, 6)) return low;
  // IPv4-compatible ::a.b.c.d, excluding :: and ::1 which are IPv6's own.
  if (zeros(0, 6) && words[6] !== 0) return low;
  if (words[0] === 0x2002) return ((words[1] << 16) | words[2]) >>> 0;
  return undefined;
}

function parseV4(text: string): number {
  return text.split('.').reduce((value, part) => ((value << 8) | Number(part)) >>> 0, 0);
}

function formatV4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

/** Expands a valid IPv6 text to eight 16-bit words. */
function parseV6(text: string): number[] {
  let head = text;
  const tailWords: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const value = parseV4(dotted[1]);
    tailWords.push(value >>> 16, value & 0xffff);
    head = text.slice(0, dotted.index);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }

  const toWords = (part: string): number[] => (part === '' ? [] : part.split(':').map((word) => parseInt(word, 16)));
  const gap = head.indexOf('::');
  let words: number[];
  if (gap < 0) {
    words = toWords(head);
  } else {
    const left = toWords(head.slice(0, gap));
    const right = toWords(head.slice(gap + 2));
    const missing = 8 - tailWords.length - left.length - right.length;
    words = [...left, ...new Array<number>(missing).fill(0), ...right];
  }
  return [...words, ...tailWords];
}
