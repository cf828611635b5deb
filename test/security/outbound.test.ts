import { getEventListeners } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { expect } from 'chai';
import { createHttpClient, TransportError } from '../../engine/http';
import { pathWithQuery } from '../../engine/http-body';
import { OutboundBlockedError, checkOutboundAddress, createGuardedLookup } from '../../engine/security/outbound';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../engine/types';

interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function startServer(handler: http.RequestListener): Promise<{ server: http.Server; base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString() });
      handler(request, response);
    });
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

async function transportFailure(promise: Promise<unknown>): Promise<TransportError> {
  const error = await failure(promise);
  expect(error).to.be.instanceOf(TransportError);
  return error as TransportError;
}

/** Returns the policy error behind a rejected connection. */
function blockedCause(error: TransportError): OutboundBlockedError {
  expect(error.code).to.equal('EOUTBOUNDBLOCKED');
  expect(error.cause).to.be.instanceOf(OutboundBlockedError);
  return error.cause as OutboundBlockedError;
}

function get(client: HttpTransport, url: string, extra: Partial<HttpRequest> = {}): Promise<HttpResponse> {
  return client({ method: 'GET', url, headers: {}, timeoutMs: 10_000, ...extra });
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

/** Content-Encoding and compressor of each compressed test route. */
const COMPRESSED: Record<string, [string, (data: Buffer) => Buffer]> = {
  '/gzip': ['gzip', (data) => zlib.gzipSync(data)],
  '/br': ['br', (data) => zlib.brotliCompressSync(data)],
  '/deflate': ['deflate', (data) => zlib.deflateSync(data)],
  '/deflate-raw': ['deflate', (data) => zlib.deflateRawSync(data)],
};

describe('createHttpClient', () => {
  let target: Awaited<ReturnType<typeof startServer>>;
  let redirector: Awaited<ReturnType<typeof startServer>>;
  let client: HttpTransport;

  before(async () => {
    target = await startServer((request, response) => {
      if (request.url === '/big') {
        response.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.alloc(2 * 1024 * 1024, 0x61));
      } else if (request.url === '/bomb') {
        response.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        response.end(zlib.gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x61)));
      } else if (request.url !== undefined && request.url in COMPRESSED) {
        const [encoding, compress] = COMPRESSED[request.url];
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding });
        response.end(compress(Buffer.from('{"compressed":true}')));
      } else if (request.url === '/drip') {
        response.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => response.write('.'), 20);
        response.on('close', () => clearInterval(timer));
      } else if (request.url === '/hang') {
        // No response at all, so only a timeout ends this request.
      } else if (request.url === '/reset') {
        request.socket.destroy();
      } else if (request.url === '/missing') {
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"no such host"}');
      } else if (request.url === '/cookies') {
        response.setHeader('set-cookie', ['a=1', 'b=2']);
        response.writeHead(200, { 'X-Mixed-Case': 'yes' }).end();
      } else if (request.url === '/loop') {
        response.writeHead(302, { location: '/loop' }).end();
      } else if (request.url === '/same-origin') {
        response.writeHead(302, { location: '/ok' }).end();
      } else if (request.url?.startsWith('/status/')) {
        response.writeHead(Number(request.url.slice('/status/'.length)), { location: '/ok' }).end();
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
      maxResponseBytes: 1024 * 1024,
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
    const error = await transportFailure(get(createHttpClient(), `${target.base}/ok`));
    expect(blockedCause(error).category).to.equal('loopback');
    expect(error.message).to.include('set allow_private_networks: true');
    expect(target.seen).to.have.length(0);
  });

  it('rejects octal and decimal loopback spellings', async () => {
    const port = new URL(target.base).port;
    for (const host of ['0177.0.0.1', '2130706433', '0x7f.1', '[::ffff:127.0.0.1]']) {
      const error = await transportFailure(get(createHttpClient(), `http://${host}:${port}/ok`));
      expect(error.code, host).to.equal('EOUTBOUNDBLOCKED');
    }
    expect(target.seen).to.have.length(0);
  });

  it('rejects a loopback host name after resolution', async () => {
    const port = new URL(target.base).port;
    const error = await transportFailure(get(createHttpClient(), `http://localhost:${port}/ok`));
    expect(blockedCause(error).host).to.equal('localhost');
    expect(target.seen).to.have.length(0);
  });

  it('reaches loopback when private networks are allowed', async () => {
    const response = await get(client, `${target.base}/ok`);
    expect(response.status).to.equal(200);
    expect(JSON.parse(response.body.toString())).to.deep.equal({ ok: true });
  });

  it('rejects metadata addresses even when private is allowed', async () => {
    const error = await transportFailure(get(client, 'http://169.254.169.254/latest/meta-data/'));
    expect(blockedCause(error).category).to.equal('metadata');
  });

  it('rejects a redirect to a metadata address', async () => {
    const error = await transportFailure(get(client, `${redirector.base}/to-metadata`));
    expect(blockedCause(error).address).to.equal('169.254.169.254');
    expect(redirector.seen).to.have.length(1);
  });

  it('ignores proxy environment variables', async () => {
    const proxy = await startServer((_request, response) => response.writeHead(502).end());
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy };
    process.env.HTTP_PROXY = proxy.base;
    process.env.http_proxy = proxy.base;
    try {
      const response = await get(createHttpClient({ allowPrivateNetworks: true }), `${target.base}/ok`);
      expect(response.status).to.equal(200);
      expect(proxy.seen).to.have.length(0);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      proxy.server.close();
    }
  });

  it('drops credentials on a cross-origin redirect', async () => {
    const headers = {
      Authorization: 'Bearer token-1',
      Cookie: 'session=abc',
      'Proxy-Authorization': 'Basic eDp5',
      'X-Api-Key': 'key-1',
      'X-Trace': 'kept',
    };
    const response = await get(client, `${redirector.base}/elsewhere`, { headers });
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
    await get(client, `${target.base}/same-origin`, { headers: { Authorization: 'Bearer token-2' } });
    expect(target.seen).to.have.length(2);
    expect(target.seen[1].headers.authorization).to.equal('Bearer token-2');
  });

  it('stops after the redirect limit', async () => {
    const error = await transportFailure(get(client, `${target.base}/loop`));
    expect(error.message).to.equal('Maximum number of redirects exceeded');
    expect(error.code).to.equal('ERR_TOO_MANY_REDIRECTS');
    expect(target.seen).to.have.length(6);
  });

  it('turns a redirected POST into a GET without body', async () => {
    for (const status of [301, 302, 303]) {
      target.seen.length = 0;
      const headers = { 'Content-Type': 'application/json' };
      const response = await client({ method: 'POST', url: `${target.base}/status/${status}`, headers, body: '{"a":1}', timeoutMs: 10_000 });
      expect(response.status, String(status)).to.equal(200);
      expect(target.seen[1].method, String(status)).to.equal('GET');
      expect(target.seen[1].body, String(status)).to.equal('');
      expect(target.seen[1].headers['content-type'], String(status)).to.equal(undefined);
    }
  });

  it('keeps method and body on 307 and 308', async () => {
    for (const status of [307, 308]) {
      target.seen.length = 0;
      const response = await client({ method: 'PUT', url: `${target.base}/status/${status}`, headers: {}, body: 'same', timeoutMs: 10_000 });
      expect(response.status, String(status)).to.equal(200);
      expect(target.seen[1].method, String(status)).to.equal('PUT');
      expect(target.seen[1].body, String(status)).to.equal('same');
    }
  });

  it('returns a 304 as data', async () => {
    target.seen.length = 0;
    const response = await get(client, `${target.base}/status/304`);
    expect(response.status).to.equal(304);
    expect(target.seen).to.have.length(1);
  });

  it('returns error statuses as data', async () => {
    const response = await get(client, `${target.base}/missing`);
    expect(response.status).to.equal(404);
    expect(response.body.toString()).to.equal('{"message":"no such host"}');
  });

  it('returns flat lower-case headers', async () => {
    const response = await get(client, `${target.base}/cookies`);
    expect(response.headers['set-cookie']).to.equal('a=1, b=2');
    expect(response.headers['x-mixed-case']).to.equal('yes');
  });

  it('appends query parameters as axios did', async () => {
    const query = { a: 'b c:$,/?', 'k ': [1, 'x', true], e: '', skipped: null as unknown as string, 'x[y]': 'z' };
    await get(client, `${target.base}/ok?x=1#fragment`, { query });
    expect(target.seen[0].path).to.equal('/ok?x=1&a=b+c:$,%2F%3F&k%5B%5D=1&k%5B%5D=x&k%5B%5D=true&e=&x%5By%5D=z');
  });

  it('sends URL credentials as Basic authentication', async () => {
    const port = new URL(target.base).port;
    await get(client, `http://us%20er:p%40ss@127.0.0.1:${port}/ok`);
    expect(target.seen[0].headers.authorization).to.equal(`Basic ${Buffer.from('us er:p@ss').toString('base64')}`);
    await get(client, `http://bad%zz@127.0.0.1:${port}/ok`);
    expect(target.seen[1].headers.authorization, 'invalid escape').to.equal(`Basic ${Buffer.from('bad%zz:').toString('base64')}`);
  });

  it('sends default headers without compression', async () => {
    await get(client, `${target.base}/ok`, { headers: { 'User-Agent': 'custom/1' } });
    expect(target.seen[0].headers['accept']).to.equal('application/json, text/plain, */*');
    expect(target.seen[0].headers['user-agent']).to.equal('custom/1');
    expect(target.seen[0].headers['accept-encoding']).to.equal(undefined);
  });

  it('decompresses gzip, br and deflate bodies', async () => {
    for (const path of Object.keys(COMPRESSED)) {
      const response = await get(client, `${target.base}${path}`);
      expect(response.body.toString(), path).to.equal('{"compressed":true}');
      expect(response.headers['content-encoding'], path).to.equal(undefined);
    }
  });

  it('rejects a response over the size limit', async () => {
    const error = await transportFailure(get(client, `${target.base}/big`));
    expect(error.message).to.equal('Response body exceeded the limit of 1048576 bytes');
    expect(error.code).to.equal('ERR_BAD_RESPONSE');
  });

  it('applies the size limit after decompression', async () => {
    const error = await transportFailure(get(client, `${target.base}/bomb`));
    expect(error.message).to.equal('Response body exceeded the limit of 1048576 bytes');
  });

  it('reports a refused connection with its system code', async () => {
    const closed = await startServer(() => undefined);
    closed.server.close();
    const error = await transportFailure(get(client, `${closed.base}/ok`));
    expect(error.code).to.equal('ECONNREFUSED');
  });

  it('reports a reset connection as ECONNRESET', async () => {
    const error = await transportFailure(get(client, `${target.base}/reset`));
    expect(error.code).to.equal('ECONNRESET');
  });

  it('ends a slow response at the total time limit', async () => {
    const started = Date.now();
    const error = await transportFailure(get(client, `${target.base}/drip`, { timeoutMs: 300 }));
    expect(error.message).to.equal('Request exceeded the total time limit of 300 ms');
    expect(error.code).to.equal('ETIMEDOUT');
    expect(Date.now() - started).to.be.lessThan(1500);
  });

  it('uses the default limit for an invalid timeout', async () => {
    for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const response = await get(client, `${target.base}/ok`, { timeoutMs });
      expect(response.status, String(timeoutMs)).to.equal(200);
    }
  });

  it('ends a silent response at the inactivity timeout', async () => {
    const probe = createHttpClient({ allowPrivateNetworks: true, inactivityTimeoutMs: 200 });
    const started = Date.now();
    const error = await transportFailure(get(probe, `${target.base}/hang`, { timeoutMs: 5000 }));
    expect(error.message).to.equal('No response headers within 200 ms');
    expect(error.code).to.equal('ETIMEDOUT');
    expect(Date.now() - started).to.be.lessThan(2000);
  });

  it('cancels on the caller signal', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    const error = await transportFailure(get(client, `${target.base}/hang`, { signal: controller.signal }));
    expect(error.code).to.equal('ERR_CANCELED');
    expect(error.message).to.not.include('total time limit');
    expect(Date.now() - started).to.be.lessThan(1500);
  });

  it('releases the caller signal after a request', async () => {
    const controller = new AbortController();
    const response = await get(client, `${target.base}/ok`, { signal: controller.signal });
    expect(response.status).to.equal(200);
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });

  it('releases the caller signal after a failed request', async () => {
    const controller = new AbortController();
    const error = await transportFailure(get(client, `${target.base}/drip`, { signal: controller.signal, timeoutMs: 200 }));
    expect(error.message).to.equal('Request exceeded the total time limit of 200 ms');
    expect(getEventListeners(controller.signal, 'abort')).to.have.length(0);
  });
});

describe('pathWithQuery', () => {
  it('keeps the path without query', () => {
    expect(pathWithQuery(new URL('http://fleet.test/a%20b?x=1'), undefined)).to.equal('/a%20b?x=1');
  });

  it('starts the query after an empty one', () => {
    expect(pathWithQuery(new URL('http://fleet.test/p?'), { a: '1' })).to.equal('/p?a=1');
  });

  it('writes nested values in brackets', () => {
    const query = { filter: { name: 'mac', tags: [{ id: 1 }] } } as unknown as Record<string, string>;
    expect(pathWithQuery(new URL('http://fleet.test/p'), query)).to.equal(
      '/p?filter%5Bname%5D=mac&filter%5Btags%5D%5B0%5D%5Bid%5D=1',
    );
  });

  it('indexes lists below the top level', () => {
    const query = { filter: { ids: [1, 2] }, pairs: [[1], [2]] } as unknown as Record<string, string>;
    expect(pathWithQuery(new URL('http://fleet.test/p'), query)).to.equal(
      '/p?filter%5Bids%5D%5B0%5D=1&filter%5Bids%5D%5B1%5D=2&pairs%5B0%5D%5B0%5D=1&pairs%5B1%5D%5B0%5D=2',
    );
  });

  it('reads key suffixes [] and {}', () => {
    const query = { 'ids[]': [1, 2], 'filter{}': { a: 1 } } as unknown as Record<string, string>;
    expect(pathWithQuery(new URL('http://fleet.test/p'), query)).to.equal(
      '/p?ids%5B%5D=1&ids%5B%5D=2&filter%7B%7D=%7B%22a%22:1%7D',
    );
  });

  it('skips null list items', () => {
    const query = { ids: [1, null, 3] } as unknown as Record<string, number[]>;
    expect(pathWithQuery(new URL('http://fleet.test/p'), query)).to.equal('/p?ids%5B%5D=1&ids%5B%5D=3');
  });
});
