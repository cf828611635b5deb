import { connect } from 'node:net';
import { expect } from 'chai';
import { startEngine, storyFile, type TestEngine } from './helpers/engine';

const STORY = `path: shop
actions:
  - name: order
    type: webhook
    path: orders
    max_body_bytes: 64
  - name: keep
    type: transform
    after: order
    payload: { id: "=order.body.id" }
`;

async function post(engine: TestEngine, path: string, body: string, type = 'application/json'): Promise<Response> {
  return fetch(`${engine.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
}

describe('webhook server', () => {
  let engine: TestEngine;

  before(async () => {
    engine = await startEngine([storyFile(STORY)]);
  });

  after(async () => {
    await engine.stop();
  });

  it('answers 201 with the run id and runs the story', async () => {
    const response = await post(engine, '/webhook/shop/orders', '{"id": 5}');
    expect(response.status).to.equal(201);
    const { run_id: runId } = (await response.json()) as { run_id: string };
    const run = await engine.runner.waitForRun(runId);
    expect(run.status).to.equal('succeeded');
    const events = await engine.store.listEvents(runId);
    expect(events.map((event) => event.action)).to.deep.equal(['order', 'keep']);
    expect(events[1]?.payload).to.deep.equal({ id: 5 });
  });

  it('accepts application/*+json and an empty body', async () => {
    expect((await post(engine, '/webhook/shop/orders', '{}', 'application/vnd.api+json')).status).to.equal(201);
    expect((await post(engine, '/webhook/shop/orders', '')).status).to.equal(201);
  });

  const cases: [string, () => Promise<Response>, number, string, RegExp][] = [
    ['unknown path', () => post(engine, '/webhook/shop/nope', '{}'), 404, 'webhook_not_found', /no webhook is hosted at \/webhook\/shop\/nope/],
    ['path outside /webhook', () => post(engine, '/other', '{}'), 404, 'not_found', /nothing is served at \/other/],
    ['wrong verb', () => fetch(`${engine.url}/webhook/shop/orders`), 405, 'method_not_allowed', /GET is not accepted here; use POST/],
    ['malformed JSON', () => post(engine, '/webhook/shop/orders', '{"id": '), 400, 'invalid_json', /not valid JSON/],
    ['too large', () => post(engine, '/webhook/shop/orders', JSON.stringify({ pad: 'x'.repeat(100) })), 413, 'payload_too_large', /at most 64/],
    ['unsupported type', () => post(engine, '/webhook/shop/orders', '<x/>', 'application/xml'), 415, 'unsupported_media_type', /application\/xml/],
  ];
  for (const [name, send, status, code, message] of cases) {
    it(`answers ${status} JSON for ${name}`, async () => {
      const before = (await engine.store.listRuns({})).length;
      const response = await send();
      expect(response.status).to.equal(status);
      expect(response.headers.get('content-type')).to.match(/^application\/json/);
      const body = (await response.json()) as { error: { status: number; code: string; message: string } };
      expect(body.error.status).to.equal(status);
      expect(body.error.code).to.equal(code);
      expect(body.error.message).to.match(message);
      expect((await engine.store.listRuns({})).length, 'no run stored').to.equal(before);
    });
  }

  it('accepts an absolute-form request target', async () => {
    const { port } = new URL(engine.url);
    const body = '{"id": 7}';
    const statusLine = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `POST ${engine.url}/webhook/shop/orders?source=proxy HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
      socket.on('end', () => resolve(received.split('\r\n')[0] ?? ''));
      socket.on('error', reject);
    });
    expect(statusLine).to.equal('HTTP/1.1 201 Created');
  });

  it('ignores a fragment in the request target', async () => {
    const { port } = new URL(engine.url);
    const body = '{"id": 8}';
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `POST /webhook/shop/orders?source=raw#part HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
    });
    expect(response.split('\r\n')[0]).to.equal('HTTP/1.1 201 Created');
    const runId = /"run_id":"([^"]+)"/.exec(response)?.[1] ?? '';
    await engine.runner.waitForRun(runId);
    const [hook] = await engine.store.listEvents(runId);
    expect((hook?.payload as { query: unknown }).query).to.deep.equal({ source: 'raw' });
  });

  it('sends Allow with 405', async () => {
    const response = await fetch(`${engine.url}/webhook/shop/orders`, { method: 'DELETE' });
    expect(response.headers.get('allow')).to.equal('POST');
  });
});

describe('webhook request storage', () => {
  it('replaces conventional credential headers', async () => {
    const engine = await startEngine([storyFile(STORY)]);
    try {
      const response = await fetch(`${engine.url}/webhook/shop/orders`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer caller-token-1',
          'x-api-key': 'caller-key-2',
          'x-request-id': 'kept-3',
        },
        body: '{}',
      });
      const { run_id: runId } = (await response.json()) as { run_id: string };
      await engine.runner.waitForRun(runId);
      const [hook] = await engine.store.listEvents(runId);
      const headers = (hook?.payload as { headers: Record<string, string> }).headers;
      expect(headers['authorization']).to.equal('[REDACTED]');
      expect(headers['x-api-key']).to.equal('[REDACTED]');
      expect(headers['x-request-id']).to.equal('kept-3');
    } finally {
      await engine.stop();
    }
  });
});

describe('webhook response status', () => {
  it('answers 204 without body headers', async () => {
    const story = `path: quiet
actions:
  - { name: ping, type: webhook, path: ping, response_status: 204 }
`;
    const engine = await startEngine([storyFile(story)]);
    try {
      const response = await fetch(`${engine.url}/webhook/quiet/ping`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(response.status).to.equal(204);
      expect(response.headers.get('content-length')).to.equal(null);
      expect(response.headers.get('content-type')).to.equal(null);
      expect(await response.text()).to.equal('');
    } finally {
      await engine.stop();
    }
  });
});
