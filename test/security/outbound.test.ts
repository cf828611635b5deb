import { getEventListeners } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { expect } from 'chai';
import axios, { type AxiosInstance } from 'axios';
import {
  OutboundBlockedError,
  checkOutboundAddress,
  createGuardedLookup,
  createHttpClient,
} from '../../engine/security/outbound';

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
}

async function startServer(handler: http.RequestListener): Promise<{ server: http.Server; base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    seen.push({ path: request.url ?? '', headers: request.headers });
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, seen };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the request to fail');
}

describe('checkOutboundAddress', () => {
  it('allows public addresses', () => {
    expect(checkOutboundAddress('example.com', '93.184.215.14', {})).to.equal(undefined);
  });

  it('rejects loopback unless private networks are allowed', () => {
    expect(checkOutboundAddress('localhost', '127.0.0.1', {})).to.be.instanceOf(OutboundBlockedError);
    expect(checkOutboundAddress('localhost', '127.0.0.1', { allowPrivateNetworks: true })).to.equal(undefined);
  });

  it('rejects metadata even when private networks are allowed', () => {
    const error = checkOutboundAddress('metadata.internal', '169.254.169.254', { allowPrivateNetworks: true });
    expect(error?.category).to.equal('metadata');
    expect(error?.message).to.equal(
      'Request to "metadata.internal" (resolved to 169.254.169.254) rejected: it is a cloud metadata address; ' +
        'requests to metadata, link-local, unspecified, multicast and reserved addresses are always rejected.',
    );
  });

  it('names the setting that allows private hosts', () => {
    const error = checkOutboundAddress('fleet.corp', '10.0.0.7', {});
    expect(error?.message).to.equal(
      'Request to "fleet.corp" (resolved to 10.0.0.7) rejected: it is a private network address; ' +
        'set allow_private_networks: true in the story if it must reach this host.',
    );
  });

  it('rejects mapped IPv6 forms of metadata', () => {
    expect(checkOutboundAddress('x', '::ffff:169.254.169.254', { allowPrivateNetworks: true })?.category).to.equal('metadata');
  });
});

describe('createGuardedLookup', () => {
  function lookup(policy: { allowPrivateNetworks?: boolean }, all: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      createGuardedLookup(policy)('localhost', { all }, (error, address) => (error ? reject(error) : resolve(address)));
    });
  }

  it('checks the resolved addresses of a host name', async () => {
    const error = await failure(lookup({}, true));
    expect(error).to.be.instanceOf(OutboundBlockedError);
    expect((error as OutboundBlockedError).host).to.equal('localhost');
    expect(error.message).to.match(/^Request to "localhost" \(resolved to (127\.0\.0\.1|::1)\) rejected: it is a loopback address/);
  });

  it('returns all addresses when allowed', async () => {
    const addresses = (await lookup({ allowPrivateNetworks: true }, true)) as Array<{ address: string }>;
    expect(addresses.length).to.be.greaterThan(0);
    expect(addresses.map((entry) => entry.address)).to.satisfy((list: string[]) =>
      list.every((address) => address === '127.0.0.1' || address === '::1'),
    );
  });

  it('returns one address when all is false', async () => {
    const address = await lookup({ allowPrivateNetworks: true }, false);
    expect(address).to.be.oneOf(['127.0.0.1', '::1']);
  });
});

describe('createHttpClient', () => {
  let target: Awaited<ReturnType<typeof startServer>>;
  let redirector: Awaited<ReturnType<typeof startServer>>;
  let client: AxiosInstance;

  before(async () => {
    target = await startServer((request, response) => {
      if (request.url === '/big') {
        response.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.alloc(2 * 1024 * 1024, 0x61));
      } else if (request.url === '/bomb') {
        response.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        response.end(zlib.gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x61)));
      } else if (request.url === '/drip') {
        response.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => response.write('.'), 20);
        response.on('close', () => clearInterval(timer));
      } else if (request.url === '/hang') {
        // No response at all, so only a timeout ends this request.
      } else if (request.url === '/loop') {
        response.writeHead(302, { location: '/loop' }).end();
      } else if (request.url === '/same-origin') {
        response.writeHead(302, { location: '/ok' }).end();
      } else {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }
    });
    redirector = await startServer((request, response) => {
      const location = request.url === '/to-metadata' ? 'http://169.254.169.254/latest/meta-data/' : `${target.base}/ok`;
      response.writeHead(302, { location }).end();
    });
    client = createHttpClient({
      allowPrivateNetworks: true,
      maxContentLength: 1024 * 1024,
      totalTimeoutMs: 10_000,
      timeoutMs: 10_000,
      sensitiveHeaders: ['X-Api-Key'],
    });
  });

  after(() => {
    target.server.close();
    redirector.server.close();
  });

  beforeEach(() => {
    target.seen.length = 0;
    redirector.seen.length = 0;
  });

  it('rejects loopback by default before connecting', async () => {
    const error = await failure(createHttpClient().get(`${target.base}/ok`));
    expect(error).to.be.instanceOf(OutboundBlockedError);
    expect(error.message).to.include('set allow_private_networks: true');
    expect(target.seen).to.have.length(0);
  });

  it('rejects octal and decimal loopback spellings', async () => {
    const port = new URL(target.base).port;
    for (const host of ['0177.0.0.1', '2130706433', '0x7f.1', '[::ffff:127.0.0.1]']) {
      const error = await failure(createHttpClient().get(`http://${host}:${port}/ok`));
      expect(error, host).to.be.instanceOf(OutboundBlockedError);
    }
    expect(target.seen).to.have.length(0);
  });

  it('rejects a loopback host name after resolution', async () => {
    const port = new URL(target.base).port;
    const error = await failure(createHttpClient().get(`http://localhost:${port}/ok`));
    expect(error).to.be.instanceOf(OutboundBlockedError);
    expect((error as OutboundBlockedError).host).to.equal('localhost');
    expect(target.seen).to.have.length(0);
  });

  it('reaches loopback when private networks are allowed', async () => {
    const response = await client.get(`${target.base}/ok`);
    expect(response.status).to.equal(200);
    expect(response.data).to.deep.equal({ ok: true });
  });

  it('rejects metadata addresses even when private is allowed', async () => {
    const error = await failure(client.get('http://169.254.169.254/latest/meta-data/'));
    expect(error).to.be.instanceOf(OutboundBlockedError);
    expect((error as OutboundBlockedError).category).to.equal('metadata');
  });

  it('rejects a redirect to a metadata address', async () => {
    const error = await failure(client.get(`${redirector.base}/to-metadata`));
    expect(error).to.be.instanceOf(OutboundBlockedError);
    expect((error as OutboundBlockedError).address).to.equal('169.254.169.254');
    expect(redirector.seen).to.have.length(1);
  });

  it('drops credentials on a cross-origin redirect', async () => {
    const headers = {
      Authorization: 'Bearer token-1',
      Cookie: 'session=abc',
      'Proxy-Authorization': 'Basic eDp5',
      'X-Api-Key': 'key-1',
      'X-Trace': 'kept',
    };
    const response = await client.get(`${redirector.base}/elsewhere`, { headers });
    expect(response.status).to.equal(200);
    expect(redirector.seen[0].headers.authorization).to.equal('Bearer token-1');
    const forwarded = target.seen[0].headers;
    expect(forwarded.authorization).to.equal(undefined);
    expect(forwarded.cookie).to.equal(undefined);
    expect(forwarded['proxy-authorization']).to.equal(undefined);
    expect(forwarded['x-api-key']).to.equal(undefined);
    expect(forwarded['x-trace']).to.equal('kept');
  });

  it('keeps credentials on a same-origin redirect', async () => {
    await client.get(`${target.base}/same-origin`, { headers: { Authorization: 'Bearer token-2' } });
    expect(target.seen).to.have.length(2);
    expect(target.seen[1].headers.authorization).to.equal('Bearer token-2');
  });

  it('stops after the redirect limit', async () => {
    const error = await failure(client.get(`${target.base}/loop`));
    expect(error.message).to.equal('Maximum number of redirects exceeded');
    expect(target.seen).to.have.length(6);
  });

  it('rejects a response over the size limit', async () => {
    const error = await failure(client.get(`${target.base}/big`));
    expect(error.message).to.equal('maxContentLength size of 1048576 exceeded');
  });

  it('applies the size limit after decompression', async () => {
    const error = await failure(client.get(`${target.base}/bomb`));
    expect(error.message).to.equal('maxContentLength size of 1048576 exceeded');
  });

  it('ends a slow response at the total time limit', async () => {
    const slow = createHttpClient({ allowPrivateNetworks: true, totalTimeoutMs: 300, timeoutMs: 5000 });
    const started = Date.now();
    const error = await failure(slow.get(`${target.base}/drip`));
    expect(error.message).to.equal('Request exceeded the total time limit of 300 ms');
    expect((error as Error & { code?: string }).code).to.equal('ETIMEDOUT');
    expect(Date.now() - started).to.be.lessThan(1500);
  });

  it('cancels on the caller signal', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(client.get(`${target.base}/hang`, { signal: controller.signal }));
    expect(axios.isCancel(error)).to.equal(true);
    expect(error.message).to.not.include('total time limit');
    expect(Date.now() - started).to.be.lessThan(1500);
  });

  it('releases the caller signal after a request', async () => {
    const controller = new AbortController();
    const response = await client.get(`${target.base}/ok`, { signal: controller.signal });
    expect(response.status).to.equal(200);
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('releases the caller signal after a failed request', async () => {
    const controller = new AbortController();
    const slow = createHttpClient({ allowPrivateNetworks: true, totalTimeoutMs: 200, timeoutMs: 5000 });
    const error = await failure(slow.get(`${target.base}/drip`, { signal: controller.signal }));
    expect(error.message).to.equal('Request exceeded the total time limit of 200 ms');
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('keeps a timeout when a request sets none', async () => {
    const probe = createHttpClient({ allowPrivateNetworks: true, timeoutMs: 200, totalTimeoutMs: 5000 });
    const started = Date.now();
    const error = await failure(probe.get(`${target.base}/hang`, { timeout: 0 }));
    expect(error.message).to.equal('timeout of 200ms exceeded');
    expect(Date.now() - started).to.be.lessThan(2000);
  });
});
