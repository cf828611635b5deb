import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { loadStoriesOrThrow } from '../engine/loader';
import { Runner } from '../engine/runner';
import { MemoryStore } from '../engine/store/memory';
import { planReplay } from '../engine/replay';
import { expect } from 'chai';
import { startEngine, storyFile, type TestEngine } from './helpers/engine';
import { startUpstream, type Upstream } from './helpers/upstream';

function story(upstream: Upstream): string {
  return `path: flow
allow_private_networks: true
credentials:
  token: { env: TEST_TOKEN }
resources:
  base: "${upstream.url}"
actions:
  - { name: hook, type: webhook, path: in }
  - name: is_big
    type: trigger
    after: hook
    rules:
      - { type: "field>value", path: hook.body.size, value: 10 }
      - { type: "regex", path: hook.body.name, value: "^srv-" }
  - name: is_small
    type: trigger
    after: hook
    when: hook.body.size <= 10
  - name: call
    type: http_request
    after: is_big
    method: POST
    url: "{{resources.base}}/items/{{hook.body.name}}"
    headers: { Authorization: "Bearer {{credentials.token}}" }
    body: { size: "=hook.body.size", tags: "=[hook.body.name]" }
  - name: after_call
    type: transform
    after: [call]
    payload: { status: "=call.status", echoed: "=call.body.ok" }
`;
}

const TOKEN = 'tok-abcdef-123456';

describe('runner', () => {
  let upstream: Upstream;
  let engine: TestEngine;

  before(async () => {
    upstream = await startUpstream(() => ({ status: 200, body: { ok: true } }));
    engine = await startEngine([storyFile(story(upstream))], { env: { TEST_TOKEN: TOKEN } });
  });

  after(async () => {
    await engine.stop();
    await upstream.close();
  });

  beforeEach(() => {
    upstream.requests.length = 0;
    upstream.reply = () => ({ status: 200, body: { ok: true } });
  });

  async function send(body: unknown): Promise<string> {
    const response = await fetch(`${engine.url}/webhook/flow/in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return ((await response.json()) as { run_id: string }).run_id;
  }

  it('follows the matching branch and builds the request', async () => {
    const runId = await send({ size: 12, name: 'srv-1' });
    const run = await engine.runner.waitForRun(runId);
    expect(run.status).to.equal('succeeded');
    expect(upstream.requests).to.have.length(1);
    const request = upstream.requests[0]!;
    expect(request.method).to.equal('POST');
    expect(request.url).to.equal('/items/srv-1');
    expect(request.headers.authorization).to.equal(`Bearer ${TOKEN}`);
    expect(JSON.parse(request.body)).to.deep.equal({ size: 12, tags: ['srv-1'] });
    const events = await engine.store.listEvents(runId);
    const statuses = Object.fromEntries(events.map((event) => [event.action, event.status]));
    expect(statuses).to.deep.equal({
      hook: 'emitted',
      is_big: 'emitted',
      is_small: 'skipped',
      call: 'emitted',
      after_call: 'emitted',
    });
    expect(events.find((event) => event.action === 'after_call')?.payload).to.deep.equal({ status: 200, echoed: true });
  });

  it('skips the request when a rule fails', async () => {
    const run = await engine.runner.waitForRun(await send({ size: 12, name: 'db-1' }));
    expect(run.status).to.equal('succeeded');
    expect(upstream.requests).to.have.length(0);
  });

  it('fails the run with the action, status and reason on a non-2xx answer', async () => {
    upstream.reply = () => ({ status: 404, body: { message: 'Resource Not Found', errors: [{ name: 'base', reason: 'Item srv-2 was not found' }] } });
    const run = await engine.runner.waitForRun(await send({ size: 50, name: 'srv-2' }));
    expect(run.status).to.equal('failed');
    expect(run.error).to.equal(`call: POST ${upstream.url}/items/srv-2 returned 404: Item srv-2 was not found`);
  });

  it('keeps the credential out of events, errors and logs', async () => {
    upstream.reply = (request) => ({ status: 401, body: { message: `bad token ${request.headers.authorization}` } });
    const runId = await send({ size: 50, name: 'srv-3' });
    const run = await engine.runner.waitForRun(runId);
    expect(run.status).to.equal('failed');
    expect(run.error).to.contain('[REDACTED]');
    const everything = JSON.stringify({ run, events: await engine.store.listEvents(runId), logs: engine.logs });
    expect(everything).to.not.contain(TOKEN);
  });

  it('rejects waiting for an unknown run', async () => {
    const error = await engine.runner.waitForRun('no-such-run').then(
      () => undefined,
      (reason: unknown) => reason as Error,
    );
    expect(error?.message).to.contain('run no-such-run not found');
  });

  it('fails the run with the reason when the server cannot be reached', async () => {
    await upstream.close();
    const run = await engine.runner.waitForRun(await send({ size: 50, name: 'srv-4' }));
    expect(run.status).to.equal('failed');
    expect(run.error, String(run.error)).to.match(/^call: POST http:\/\/127\.0\.0\.1:\d+\/items\/srv-4 failed: .*(ECONNREFUSED|ECONNRESET)/);
    upstream = await startUpstream();
  });
});

describe('http_request accept_statuses', () => {
  it('counts a listed status as success', async () => {
    const upstream = await startUpstream(() => ({ status: 409, body: { message: 'Duplicate entry' } }));
    const yaml = `path: dup
allow_private_networks: true
actions:
  - { name: hook, type: webhook, path: in }
  - { name: post, type: http_request, after: hook, method: POST, url: "${upstream.url}/x", accept_statuses: [409] }
`;
    const engine = await startEngine([storyFile(yaml)]);
    try {
      const response = await fetch(`${engine.url}/webhook/dup/in`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
      const { run_id: runId } = (await response.json()) as { run_id: string };
      const run = await engine.runner.waitForRun(runId);
      expect(run.status).to.equal('succeeded');
      const events = await engine.store.listEvents(runId);
      expect((events[1]?.payload as { status: number }).status).to.equal(409);
    } finally {
      await engine.stop();
      await upstream.close();
    }
  });
});

describe('runner inline actions', () => {
  /** A memory store that counts the work items it hands out. */
  class CountingStore extends MemoryStore {
    claimed = 0;
    override async claim(workerId: string, max: number, leaseMs: number) {
      const items = await super.claim(workerId, max, leaseMs);
      this.claimed += items.length;
      return items;
    }
  }

  const yaml = `path: inline
actions:
  - { name: hook, type: webhook, path: in }
  - { name: check, type: trigger, after: hook, when: "hook.body.n > 0" }
  - { name: build, type: transform, after: check, payload: { n: "=hook.body.n" } }
  - { name: once, type: transform, mode: deduplicate, after: build, key: "=build.n" }
  - { name: after_once, type: transform, after: once, payload: { seen: "=build.n" } }
`;

  it('runs stateless actions in the claimed item step', async () => {
    const store = new CountingStore();
    const engine = await startEngine([storyFile(yaml)], { store });
    try {
      const response = await fetch(`${engine.url}/webhook/inline/in`, { method: 'POST', body: '{"n": 3}', headers: { 'content-type': 'application/json' } });
      const { run_id: runId } = (await response.json()) as { run_id: string };
      const run = await engine.runner.waitForRun(runId);
      expect(run.status).to.equal('succeeded');
      const events = await store.listEvents(runId);
      expect(events.map((event) => event.action)).to.deep.equal(['hook', 'check', 'build', 'once', 'after_once']);
      expect(events[2]?.parentId).to.equal(events[1]?.id);
      // hook runs check and build inline; the stateful deduplicate is its own item, and runs after_once.
      expect(store.claimed).to.equal(2);
    } finally {
      await engine.stop();
    }
  });
});

/** Story whose second action is named `__proto__`, followed by `rest`. */
function protoStory(path: string, rest: string): string {
  return `path: ${path}
actions:
  - { name: hook, type: webhook, path: in }
  - name: __proto__
    type: transform
    after: hook
    payload: { id: "=hook.body.id" }
${rest}`;
}

/** Runs one webhook body through a story to its end and stops the engine after `check`. */
async function runToEnd(yaml: string, check: (engine: TestEngine, runId: string, status: string) => Promise<void>): Promise<void> {
  const engine = await startEngine([storyFile(yaml)]);
  try {
    const [webhook] = engine.runner.webhooks;
    const request = { method: 'POST', path: webhook!.url, query: {}, headers: {}, body: { id: 5 }, received_at: '' };
    const run = await engine.runner.accept(webhook!, request);
    const finished = await engine.runner.waitForRun(run.id);
    await check(engine, run.id, finished.status);
  } finally {
    await engine.stop();
  }
}

describe('runner lineage', () => {
  it('passes on an action named __proto__', async () => {
    const rest = `  - name: next
    type: transform
    after: __proto__
    payload: { expression: "=__proto__.id", template: "{{__proto__.id}}" }
  - name: last
    type: transform
    after: next
    payload: { expression: "=__proto__.id" }
`;
    await runToEnd(protoStory('odd', rest), async (engine, runId) => {
      const events = await engine.store.listEvents(runId);
      const payloads = Object.fromEntries(events.map((event) => [event.action, event.payload]));
      expect(payloads['next']).to.deep.equal({ expression: 5, template: '5' });
      expect(payloads['last']).to.deep.equal({ expression: 5 });
    });
  });
});

describe('replay lineage', () => {
  it('keeps an action named __proto__', async () => {
    const rest = `  - name: split
    type: transform
    mode: explode
    after: __proto__
    path: "=__proto__.id"
    to: item
`;
    await runToEnd(protoStory('odd_replay', rest), async (engine, runId, status) => {
      expect(status).to.equal('failed');
      const plan = await planReplay(engine.store, runId, false);
      expect(plan.action).to.equal('split');
      expect(Object.hasOwn(plan.first.lineage, '__proto__')).to.equal(true);
      expect(Object.getOwnPropertyDescriptor(plan.first.lineage, '__proto__')?.value).to.deep.equal({ id: 5 });
    });
  });
});

describe('runner waitForRun', () => {
  /** A memory store whose next getRun waits until endHold() is called. */
  class HeldStore extends MemoryStore {
    private lookupGate: Promise<void> | undefined;
    endHold: () => void = () => undefined;

    holdNextLookup(): void {
      this.lookupGate = new Promise((resolve) => (this.endHold = resolve));
    }

    override async getRun(id: string) {
      const gate = this.lookupGate;
      this.lookupGate = undefined;
      if (gate !== undefined) await gate;
      return super.getRun(id);
    }
  }

  it('resolves for a run dropped during the lookup', async () => {
    const store = new HeldStore();
    await store.open();
    const file = storyFile('path: w\nactions:\n  - { name: hook, type: webhook, path: in }\n');
    const runner = new Runner({ stories: loadStoriesOrThrow([file]), store, logger: pino({ level: 'silent' }), pollMs: 5 });
    try {
      const [webhook] = runner.webhooks;
      const request = { method: 'POST', path: '/webhook/w/in', query: {}, headers: {}, body: null, received_at: '' };
      const run = await runner.accept(webhook!, request);
      store.holdNextLookup();
      const waiting = runner.waitForRun(run.id);
      runner.start();
      // The run finishes and settles its waiter, and then the store drops it before the lookup returns.
      while ((await store.listRuns({ status: 'succeeded' })).length === 0) await sleep(5);
      await sleep(20);
      expect(await store.prune(Date.now() + 1)).to.equal(1);
      store.endHold();
      expect((await waiting).status).to.equal('succeeded');
    } finally {
      await runner.stop();
    }
  });
});
