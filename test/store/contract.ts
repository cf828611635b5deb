/**
 * Contract tests every Store backend must pass. A backend's test file calls
 * `describeStoreContract` with a factory that returns a fresh, opened, empty store.
 */
import { expect } from 'chai';
import type { EventRecord, Json } from '../../engine/types';
import type { NewEvent, NewWorkItem, Store, WorkItem } from '../../engine/store/types';

export type StoreFactory = () => Promise<Store>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds a work item for action `action` of story `fleet`. createRun replaces its `runId`. */
export function workItem(action: string, overrides: Partial<NewWorkItem> = {}): NewWorkItem {
  return {
    runId: '',
    story: 'fleet',
    action,
    parentEventId: null,
    input: { body: { host_id: 7 } },
    lineage: {},
    availableAt: Date.now(),
    ...overrides,
  };
}

let eventCounter = 0;

/** Builds an event of `action` with the given status and an id unique to this process. */
export function event(action: string, status: EventRecord['status'] = 'emitted'): NewEvent {
  eventCounter += 1;
  const now = Date.now();
  return {
    id: `event-${process.pid}-${eventCounter}`,
    action,
    parentId: null,
    status,
    payload: status === 'emitted' ? { action, n: eventCounter } : null,
    error: status === 'failed' ? `${action} failed: 503 Service Unavailable` : null,
    summary: status === 'emitted' ? `200 GET http://127.0.0.1/${action}` : null,
    attempt: 1,
    startedAt: now,
    finishedAt: now,
  };
}

/** Starts a run of story `fleet` whose first item is the webhook `hook`. */
function startRun(store: Store) {
  return store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
}

/** Claims exactly one item and fails the test when the store returns another count. */
async function claimOne(store: Store, workerId = 'worker-a', leaseMs = 30_000): Promise<WorkItem> {
  const items = await store.claim(workerId, 10, leaseMs);
  expect(items, 'claimed items').to.have.length(1);
  return items[0];
}

export function describeStoreContract(
  name: string,
  makeStore: StoreFactory,
  cleanup?: () => Promise<void>,
): void {
  describe(`${name} store contract`, function () {
    let store: Store;

    beforeEach(async function () {
      store = await makeStore();
    });

    afterEach(async function () {
      await store.close();
      if (cleanup) await cleanup();
    });

    describe('createRun', function () {
      it('stores a running run', async function () {
        const before = Date.now();
        const run = await store.createRun(
          { story: 'fleet', storyName: 'Fleet OS update' },
          workItem('hook'),
        );
        expect(run.id).to.be.a('string').and.not.equal('');
        expect(run.story).to.equal('fleet');
        expect(run.storyName).to.equal('Fleet OS update');
        expect(run.status).to.equal('running');
        expect(run.createdAt).to.be.at.least(before);
        expect(run.finishedAt).to.equal(null);
        expect(run.error).to.equal(null);
        expect(await store.getRun(run.id)).to.deep.equal(run);
      });

      it('keeps a given run id', async function () {
        const run = await store.createRun(
          { id: 'run-given-1', story: 'fleet', storyName: 'Fleet' },
          workItem('hook'),
        );
        expect(run.id).to.equal('run-given-1');
        expect((await store.getRun('run-given-1'))?.id).to.equal('run-given-1');
      });

      it('adds the first work item', async function () {
        const input: Json = { body: { host_id: 7, names: ['a', 'ü', null], deep: { x: 1.5 } } };
        const run = await store.createRun(
          { story: 'fleet', storyName: 'Fleet' },
          workItem('hook', { input, lineage: { earlier: { ok: true } } }),
        );
        expect(await store.pendingCount()).to.equal(1);
        const item = await claimOne(store);
        expect(item.id).to.be.a('string').and.not.equal('');
        expect(item.runId).to.equal(run.id);
        expect(item.story).to.equal('fleet');
        expect(item.action).to.equal('hook');
        expect(item.parentEventId).to.equal(null);
        expect(item.input).to.deep.equal(input);
        expect(item.lineage).to.deep.equal({ earlier: { ok: true } });
        expect(item.attempt).to.equal(0);
      });

      it('returns undefined for an unknown run', async function () {
        expect(await store.getRun('no-such-run')).to.equal(undefined);
      });
    });

    describe('claim', function () {
      it('skips items not yet available', async function () {
        await store.createRun(
          { story: 'fleet', storyName: 'Fleet' },
          workItem('hook', { availableAt: Date.now() + 60_000 }),
        );
        expect(await store.claim('worker-a', 10, 30_000)).to.deep.equal([]);
        expect(await store.pendingCount()).to.equal(1);
      });

      it('hides an item while its lease lasts', async function () {
        await startRun(store);
        await claimOne(store, 'worker-a');
        expect(await store.claim('worker-a', 10, 30_000)).to.deep.equal([]);
        expect(await store.claim('worker-b', 10, 30_000)).to.deep.equal([]);
      });

      it('returns at most max items', async function () {
        for (let i = 0; i < 5; i += 1) {
          await startRun(store);
        }
        const first = await store.claim('worker-a', 3, 30_000);
        expect(first).to.have.length(3);
        const rest = await store.claim('worker-a', 3, 30_000);
        expect(rest).to.have.length(2);
      });

      it('gives concurrent workers disjoint items', async function () {
        for (let i = 0; i < 20; i += 1) {
          await startRun(store);
        }
        const batches = await Promise.all([
          store.claim('worker-a', 10, 30_000),
          store.claim('worker-b', 10, 30_000),
          store.claim('worker-c', 10, 30_000),
        ]);
        const ids = batches.flat().map((item) => item.id);
        expect(ids).to.have.length(20);
        expect(new Set(ids).size).to.equal(20);
      });

      it('reclaims an item whose lease expired', async function () {
        await startRun(store);
        const first = await claimOne(store, 'worker-a', 20);
        await sleep(60);
        const again = await claimOne(store, 'worker-b');
        expect(again.id).to.equal(first.id);
      });

      it('claims earlier available items first', async function () {
        const early = await store.createRun(
          { story: 'fleet', storyName: 'Fleet' },
          workItem('hook', { availableAt: Date.now() - 10_000 }),
        );
        await startRun(store);
        const [item] = await store.claim('worker-a', 1, 30_000);
        expect(item.runId).to.equal(early.id);
      });
    });

    describe('recordAttempt', function () {
      it('persists the attempt count', async function () {
        await startRun(store);
        const item = await claimOne(store, 'worker-a', 20);
        await store.recordAttempt({ ...item, attempt: item.attempt + 1 });
        await sleep(60);
        const again = await claimOne(store, 'worker-b');
        expect(again.attempt).to.equal(1);
      });
    });

    describe('complete', function () {
      it('stores events and children together', async function () {
        const run = await startRun(store);
        const item = await claimOne(store);
        const emitted = event('hook');
        const result = await store.complete(item, {
          events: [emitted],
          children: [
            workItem('get_host', { runId: run.id, parentEventId: emitted.id, input: { a: 1 } }),
            workItem('log', {
              runId: run.id,
              parentEventId: emitted.id,
              lineage: { hook: { a: 1 } },
            }),
          ],
        });
        expect(result.runFinished).to.equal(undefined);
        expect(await store.listEvents(run.id)).to.deep.equal([{ ...emitted, runId: run.id }]);
        expect(await store.pendingCount()).to.equal(2);
        const children = await store.claim('worker-a', 10, 30_000);
        expect(children.map((child) => child.action).sort()).to.deep.equal(['get_host', 'log']);
        const getHost = children.find((child) => child.action === 'get_host');
        expect(getHost?.parentEventId).to.equal(emitted.id);
        expect(getHost?.input).to.deep.equal({ a: 1 });
        expect(getHost?.attempt).to.equal(0);
        const log = children.find((child) => child.action === 'log');
        expect(log?.lineage).to.deep.equal({ hook: { a: 1 } });
        expect((await store.getRun(run.id))?.status).to.equal('running');
      });

      it('finishes a run succeeded', async function () {
        const run = await startRun(store);
        const item = await claimOne(store);
        const before = Date.now();
        const result = await store.complete(item, { events: [event('hook')], children: [] });
        expect(result.runFinished).to.equal('succeeded');
        const stored = await store.getRun(run.id);
        expect(stored?.status).to.equal('succeeded');
        expect(stored?.finishedAt).to.be.at.least(before);
        expect(stored?.error).to.equal(null);
        expect(await store.pendingCount()).to.equal(0);
      });

      it('finishes a run failed with the reason', async function () {
        const run = await startRun(store);
        const item = await claimOne(store);
        const failed = event('hook', 'failed');
        const result = await store.complete(item, { events: [failed], children: [] });
        expect(result.runFinished).to.equal('failed');
        const stored = await store.getRun(run.id);
        expect(stored?.status).to.equal('failed');
        expect(stored?.error).to.equal(failed.error);
      });

      it('fails a run when any branch failed', async function () {
        const run = await startRun(store);
        const root = await claimOne(store);
        await store.complete(root, {
          events: [event('hook')],
          children: [workItem('left', { runId: run.id }), workItem('right', { runId: run.id })],
        });
        const branches = await store.claim('worker-a', 10, 30_000);
        const left = branches.find((item) => item.action === 'left') as WorkItem;
        const right = branches.find((item) => item.action === 'right') as WorkItem;
        const failed = event('left', 'failed');
        const first = await store.complete(left, { events: [failed], children: [] });
        expect(first.runFinished).to.equal(undefined);
        expect((await store.getRun(run.id))?.status).to.equal('running');
        const last = await store.complete(right, { events: [event('right')], children: [] });
        expect(last.runFinished).to.equal('failed');
        expect((await store.getRun(run.id))?.error).to.equal(failed.error);
      });

      it('ends a run on a skipped event', async function () {
        const run = await startRun(store);
        const item = await claimOne(store);
        const skipped = event('hook', 'skipped');
        const result = await store.complete(item, { events: [skipped], children: [] });
        expect(result.runFinished).to.equal('succeeded');
        expect((await store.listEvents(run.id))[0].status).to.equal('skipped');
      });

      it('ignores a second completion of one item', async function () {
        const run = await startRun(store);
        const item = await claimOne(store);
        await store.complete(item, { events: [event('hook')], children: [] });
        const again = await store.complete(item, { events: [event('hook')], children: [] });
        expect(again.runFinished).to.equal(undefined);
        expect(await store.listEvents(run.id)).to.have.length(1);
        expect(await store.pendingCount()).to.equal(0);
      });
    });

    describe('retryAt', function () {
      it('reschedules the item without events', async function () {
        const run = await startRun(store);
        const item = await claimOne(store);
        await store.recordAttempt({ ...item, attempt: 1 });
        const result = await store.complete(
          { ...item, attempt: 1 },
          { events: [], children: [], retryAt: Date.now() + 80, retryReason: '503 from Fleet' },
        );
        expect(result.runFinished).to.equal(undefined);
        expect(await store.listEvents(run.id)).to.deep.equal([]);
        expect(await store.pendingCount()).to.equal(1);
        expect((await store.getRun(run.id))?.status).to.equal('running');
        expect(await store.claim('worker-a', 10, 30_000)).to.deep.equal([]);
        await sleep(120);
        const again = await claimOne(store);
        expect(again.id).to.equal(item.id);
        expect(again.attempt).to.equal(1);
      });
    });

    describe('release', function () {
      it('makes claimed items available at once', async function () {
        await startRun(store);
        await startRun(store);
        const claimed = await store.claim('worker-a', 10, 30_000);
        expect(claimed).to.have.length(2);
        await store.release(claimed);
        const again = await store.claim('worker-b', 10, 30_000);
        const claimedIds = claimed.map((item) => item.id).sort();
        expect(again.map((item) => item.id).sort()).to.deep.equal(claimedIds);
        expect(await store.pendingCount()).to.equal(2);
      });
    });

    describe('pendingCount', function () {
      it('counts claimed and unclaimed items', async function () {
        expect(await store.pendingCount()).to.equal(0);
        for (let i = 0; i < 3; i += 1) {
          await startRun(store);
        }
        await store.claim('worker-a', 1, 30_000);
        expect(await store.pendingCount()).to.equal(3);
      });
    });

    describe('listRuns', function () {
      async function finishedRun(story: string, status: 'succeeded' | 'failed') {
        const run = await store.createRun({ story, storyName: story }, workItem('hook', { story }));
        const [item] = await store.claim('worker-a', 1, 30_000);
        await store.complete(item, {
          events: [event('hook', status === 'failed' ? 'failed' : 'emitted')],
          children: [],
        });
        await sleep(5);
        return run;
      }

      it('lists newest first', async function () {
        const a = await finishedRun('fleet', 'succeeded');
        const b = await finishedRun('fleet', 'failed');
        const c = await finishedRun('other', 'succeeded');
        const runs = await store.listRuns({});
        expect(runs.map((run) => run.id)).to.deep.equal([c.id, b.id, a.id]);
      });

      it('filters by story', async function () {
        const a = await finishedRun('fleet', 'succeeded');
        await finishedRun('other', 'succeeded');
        const b = await finishedRun('fleet', 'failed');
        const runs = await store.listRuns({ story: 'fleet' });
        expect(runs.map((run) => run.id)).to.deep.equal([b.id, a.id]);
      });

      it('filters by status', async function () {
        await finishedRun('fleet', 'succeeded');
        const failed = await finishedRun('fleet', 'failed');
        await finishedRun('other', 'succeeded');
        const runs = await store.listRuns({ status: 'failed' });
        expect(runs.map((run) => run.id)).to.deep.equal([failed.id]);
        expect(runs[0].status).to.equal('failed');
        expect(runs[0].error).to.be.a('string');
      });

      it('filters by running and succeeded', async function () {
        const succeeded = await finishedRun('fleet', 'succeeded');
        await finishedRun('fleet', 'failed');
        const running = await startRun(store);
        const succeededRuns = await store.listRuns({ status: 'succeeded' });
        expect(succeededRuns.map((run) => run.id)).to.deep.equal([succeeded.id]);
        const runningRuns = await store.listRuns({ status: 'running' });
        expect(runningRuns.map((run) => run.id)).to.deep.equal([running.id]);
      });

      it('filters by since', async function () {
        await finishedRun('fleet', 'succeeded');
        await sleep(20);
        const since = Date.now();
        const recent = await finishedRun('fleet', 'succeeded');
        const runs = await store.listRuns({ since });
        expect(runs.map((run) => run.id)).to.deep.equal([recent.id]);
      });

      it('applies the limit', async function () {
        await finishedRun('fleet', 'succeeded');
        const b = await finishedRun('fleet', 'succeeded');
        const c = await finishedRun('fleet', 'succeeded');
        const runs = await store.listRuns({ limit: 2 });
        expect(runs.map((run) => run.id)).to.deep.equal([c.id, b.id]);
      });

      it('combines filters', async function () {
        await finishedRun('fleet', 'succeeded');
        const expected = await finishedRun('fleet', 'failed');
        await finishedRun('other', 'failed');
        const runs = await store.listRuns({ story: 'fleet', status: 'failed' });
        expect(runs.map((run) => run.id)).to.deep.equal([expected.id]);
      });
    });

    describe('listEvents', function () {
      it('returns events in stored order', async function () {
        const run = await startRun(store);
        const root = await claimOne(store);
        const hook = event('hook');
        const children = [workItem('split', { runId: run.id })];
        await store.complete(root, { events: [hook], children });
        const split = await claimOne(store);
        const parts = [event('split'), event('split'), event('split')];
        await store.complete(split, { events: parts, children: [] });
        const trail = await store.listEvents(run.id);
        const expectedIds = [hook.id, ...parts.map((part) => part.id)];
        expect(trail.map((stored) => stored.id)).to.deep.equal(expectedIds);
        expect(trail[0]).to.deep.equal({ ...hook, runId: run.id });
      });

      it('keeps runs apart', async function () {
        const first = await startRun(store);
        const second = await startRun(store);
        const items = await store.claim('worker-a', 10, 30_000);
        for (const item of items) {
          await store.complete(item, { events: [event('hook')], children: [] });
        }
        expect(await store.listEvents(first.id)).to.have.length(1);
        expect(await store.listEvents(second.id)).to.have.length(1);
        expect((await store.listEvents(first.id))[0].runId).to.equal(first.id);
        expect(await store.listEvents('no-such-run')).to.deep.equal([]);
      });
    });

    describe('cancel', function () {
      it('deletes an unclaimed timer and finishes the run', async function () {
        const run = await startRun(store);
        const root = await claimOne(store);
        const timer = workItem('gather', { id: `timer-${run.id}`, runId: run.id, availableAt: Date.now() + 60_000 });
        await store.complete(root, { events: [event('hook')], children: [timer, workItem('gather', { runId: run.id })] });
        const gather = await claimOne(store);
        const result = await store.complete(gather, { events: [event('gather')], children: [], cancel: [timer.id as string] });
        expect(result.runFinished).to.equal('succeeded');
        expect(await store.pendingCount()).to.equal(0);
      });
    });

    describe('updateState', function () {
      it('stores, replaces and deletes a value', async function () {
        if (!store.updateState) this.skip();
        const seen: (Json | undefined)[] = [];
        const update = (value: Json | undefined) =>
          store.updateState!('story/action', 'k', (current) => {
            seen.push(current);
            return { value };
          });
        await update({ count: 1 });
        await update({ count: 2 });
        await update(undefined);
        await update('again');
        expect(seen).to.deep.equal([undefined, { count: 1 }, { count: 2 }, undefined]);
      });

      it('keeps scopes apart and forgets expired values', async function () {
        if (!store.updateState) this.skip();
        await store.updateState('a', 'k', () => ({ value: 1 }));
        await store.updateState('b', 'k', () => ({ value: 2, ttlMs: 20 }));
        await sleep(40);
        let inA: Json | undefined;
        let inB: Json | undefined;
        await store.updateState('a', 'k', (current) => ((inA = current), { value: current }));
        await store.updateState('b', 'k', (current) => ((inB = current), { value: current }));
        expect(inA).to.equal(1);
        expect(inB).to.equal(undefined);
      });

      it('applies concurrent updates one at a time', async function () {
        if (!store.updateState) this.skip();
        await Promise.all(
          Array.from({ length: 20 }, () =>
            store.updateState!('s', 'counter', (current) => ({ value: ((current as number | undefined) ?? 0) + 1 })),
          ),
        );
        let total: Json | undefined;
        await store.updateState('s', 'counter', (current) => ((total = current), { value: current }));
        expect(total).to.equal(20);
      });
    });
  });
}
