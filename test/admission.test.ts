import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { PendingLimit, TooBusyError } from '../engine/admission';
import { startEngine, storyFile, type TestEngine } from './helpers/engine';

/** Starts an upstream that holds every request until release() is called. */
async function startHoldingUpstream() {
  const heldResponses: http.ServerResponse[] = [];
  let holding = true;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (!holding) return res.end('{}');
      heldResponses.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Number of requests waiting for release(). */
    get waiting(): number {
      return heldResponses.length;
    },
    release(): void {
      holding = false;
      for (const res of heldResponses.splice(0)) res.end('{}');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('pending work limit', () => {
  let upstream: Awaited<ReturnType<typeof startHoldingUpstream>>;
  let engine: TestEngine;

  before(async () => {
    upstream = await startHoldingUpstream();
    const story = `path: slow
allow_private_networks: true
actions:
  - { name: hook, type: webhook, path: in }
  - name: call
    type: http_request
    after: hook
    url: "${upstream.url}/hold"
`;
    engine = await startEngine([storyFile(story)], { maxPending: 2 });
  });

  after(async () => {
    upstream.release();
    await engine.stop();
    await upstream.close();
  });

  const post = () =>
    fetch(`${engine.url}/webhook/slow/in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });

  it('answers 429 when full, 201 once drained', async () => {
    const first = await post();
    const second = await post();
    expect(first.status).to.equal(201);
    expect(second.status).to.equal(201);
    const runIds = [first, second].map(async (response) => ((await response.json()) as { run_id: string }).run_id);

    const runsBefore = (await engine.store.listRuns({})).length;
    const rejected = await post();
    expect(rejected.status).to.equal(429);
    expect(rejected.headers.get('retry-after')).to.equal('1');
    expect(rejected.headers.get('content-type')).to.match(/^application\/json/);
    const body = (await rejected.json()) as { error: { status: number; code: string; message: string } };
    expect(body.error.status).to.equal(429);
    expect(body.error.code).to.equal('too_many_pending');
    expect(body.error.message).to.match(/2 work items are pending, at or above the limit of 2/);
    expect((await engine.store.listRuns({})).length, 'no run stored').to.equal(runsBefore);
    const unparsed = await fetch(`${engine.url}/webhook/slow/in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(unparsed.status, 'rejected before the body is parsed').to.equal(429);

    upstream.release();
    for (const runId of await Promise.all(runIds)) {
      expect((await engine.runner.waitForRun(runId)).status).to.equal('succeeded');
    }
    expect((await post()).status).to.equal(201);
  });

  it('logs the rejection once', () => {
    const lines = engine.logs.filter((line) => line.includes('pending work at its limit'));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/"maxPending":2/);
  });
});

describe('pending limit estimate', () => {
  const realNow = Date.now;
  let now = 1_000_000;

  beforeEach(() => {
    Date.now = () => now;
  });

  afterEach(() => {
    Date.now = realNow;
  });

  it('passes a stale full estimate', async () => {
    let pendingInStore = 0;
    const limit = new PendingLimit(1, async () => pendingInStore);
    await limit.admit();
    pendingInStore = 1;
    expect(() => limit.checkRoom(), 'full and fresh').to.throw(TooBusyError);

    // Another process finished the work item, which only a new count shows.
    pendingInStore = 0;
    now += 1001;
    expect(() => limit.checkRoom(), 'full but stale').to.not.throw();
    await limit.admit();
  });
});

describe('actions in flight', () => {
  it('print no listener warning', async () => {
    const upstream = await startHoldingUpstream();
    const story = `path: many
allow_private_networks: true
actions:
  - { name: hook, type: webhook, path: in }
  - name: call
    type: http_request
    after: hook
    url: "${upstream.url}/hold"
`;
    const engine = await startEngine([storyFile(story)]);
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const inFlight = 20;
      for (let index = 0; index < inFlight; index += 1) {
        const response = await fetch(`${engine.url}/webhook/many/in`, { method: 'POST', body: '{}' });
        expect(response.status).to.equal(201);
      }
      const deadline = Date.now() + 5000;
      while (upstream.waiting < inFlight && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(upstream.waiting).to.equal(inFlight);
      // Node emits the warning on the next tick after the eleventh listener.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.map((warning) => warning.name)).to.not.include('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      upstream.release();
      await engine.stop();
      await upstream.close();
    }
  });
});
