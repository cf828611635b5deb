import { expect } from 'chai';
import { MemoryStore } from '../../engine/store/memory';
import { describeStoreContract, event, workItem } from './contract';

describeStoreContract('memory', async () => {
  const store = new MemoryStore();
  await store.open();
  return store;
});

/** Creates a run and completes its only item, so the run finishes. */
async function finishRun(store: MemoryStore): Promise<string> {
  const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
  const claimed = await store.claim('worker-a', 100, 60_000);
  const item = claimed.find((candidate) => candidate.runId === run.id);
  if (item === undefined) throw new Error(`the item of run ${run.id} was not claimable`);
  await store.complete(item, { events: [event('hook')], children: [] });
  await store.release(claimed.filter((other) => other !== item));
  return run.id;
}

describe('MemoryStore limits', function () {
  it('drops the oldest finished runs past maxFinishedRuns', async function () {
    const store = new MemoryStore({ maxFinishedRuns: 2 });
    const first = await finishRun(store);
    const second = await finishRun(store);
    const third = await finishRun(store);

    expect(await store.getRun(first)).to.equal(undefined);
    expect(await store.listEvents(first)).to.deep.equal([]);
    expect((await store.getRun(second))?.status).to.equal('succeeded');
    expect((await store.getRun(third))?.status).to.equal('succeeded');
    expect(await store.listEvents(third)).to.have.length(1);
    expect((await store.listRuns({})).map((run) => run.id)).to.have.members([second, third]);
  });

  it('keeps runs in progress beyond the limit', async function () {
    const store = new MemoryStore({ maxFinishedRuns: 0 });
    const running = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    const finished = await finishRun(store);

    expect((await store.getRun(running.id))?.status).to.equal('running');
    expect(await store.getRun(finished)).to.equal(undefined);
    expect(await store.pendingCount()).to.equal(1);
  });

  it('rejects a maxFinishedRuns that is not a whole number', function () {
    expect(() => new MemoryStore({ maxFinishedRuns: -1 })).to.throw(/invalid maxFinishedRuns -1/);
    expect(() => new MemoryStore({ maxFinishedRuns: 1.5 })).to.throw(/invalid maxFinishedRuns 1.5/);
  });

  it('prunes finished runs before a time', async function () {
    const store = new MemoryStore();
    const old = await finishRun(store);
    const running = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));

    expect(await store.prune(Date.now() + 1)).to.equal(1);
    expect(await store.getRun(old)).to.equal(undefined);
    expect(await store.listEvents(old)).to.deep.equal([]);
    expect((await store.getRun(running.id))?.status).to.equal('running');
    expect(await store.pendingCount()).to.equal(1);
  });
});
