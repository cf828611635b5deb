import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { startRetention } from '../../engine/retention';
import { SqliteStore } from '../../engine/store/sqlite';
import { isGoneLocalWorker, newWorkerId, releaseGoneWorkers } from '../../engine/workers';
import { event, workItem } from '../store/contract';

/** Pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('worker ids', function () {
  it('name this host and process', function () {
    expect(newWorkerId()).to.match(new RegExp(`^${hostname()}:${process.pid}:[0-9a-f]{8}$`));
  });

  it('recognise a gone local process', function () {
    expect(isGoneLocalWorker(`${hostname()}:${deadPid()}:abcdef12`)).to.equal(true);
  });

  it('keep live and foreign workers', function () {
    expect(isGoneLocalWorker(newWorkerId())).to.equal(false);
    expect(isGoneLocalWorker(`${hostname()}:${process.ppid}:abcdef12`)).to.equal(false);
    expect(isGoneLocalWorker(`other-host.invalid:${deadPid()}:abcdef12`)).to.equal(false);
    expect(isGoneLocalWorker('worker-a')).to.equal(false);
  });
});

describe('durable store upkeep', function () {
  let directory: string;
  let store: SqliteStore;

  beforeEach(async function () {
    directory = mkdtempSync(join(tmpdir(), 'story-engine-upkeep-'));
    store = new SqliteStore(join(directory, 'engine.db'));
    await store.open();
  });

  afterEach(async function () {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('releases claims of gone workers', async function () {
    await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    const gone = `${hostname()}:${deadPid()}:abcdef12`;
    await store.claim(gone, 1, 60_000);
    await store.claim(newWorkerId(), 1, 60_000);
    const released = await releaseGoneWorkers(store);
    expect(released).to.deep.equal({ workers: [gone], items: 1 });
    expect(await store.claim('worker-new', 10, 60_000)).to.have.length(1);
  });

  it('prunes old runs periodically', async function () {
    const old = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    const [item] = await store.claim('worker-a', 1, 60_000);
    await store.complete(item, { events: [event('hook')], children: [] });
    const stop = startRetention(store, 200, pino({ level: 'silent' }));
    try {
      const running = await store.createRun(
        { story: 'fleet', storyName: 'Fleet' },
        workItem('hook'),
      );
      expect((await store.getRun(old.id))?.status).to.equal('succeeded');
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await store.getRun(old.id)).to.equal(undefined);
      expect((await store.getRun(running.id))?.status).to.equal('running');
    } finally {
      stop();
    }
  });
});
