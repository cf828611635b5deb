import fs, { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { SqliteStore } from '../../engine/store/sqlite';
import {
  migrate,
  schemaVersion,
  SchemaTooNewError,
  sqliteMigrations,
} from '../../engine/store/migrations/sqlite';
import { describeStoreContract, event, workItem } from './contract';

const latest = sqliteMigrations[sqliteMigrations.length - 1].version;
let directory = '';

function freshFile(): string {
  directory = mkdtempSync(join(tmpdir(), 'story-engine-sqlite-'));
  return join(directory, 'nested', 'engine.db');
}

function removeDirectory(): Promise<void> {
  if (directory) rmSync(directory, { recursive: true, force: true });
  directory = '';
  return Promise.resolve();
}

describeStoreContract(
  'sqlite',
  async () => {
    const store = new SqliteStore(freshFile());
    await store.open();
    return store;
  },
  removeDirectory,
);

describe('SqliteStore', function () {
  let file: string;

  beforeEach(function () {
    file = freshFile();
  });

  afterEach(removeDirectory);

  it('opens in WAL mode', async function () {
    const store = new SqliteStore(file);
    await store.open();
    await store.close();
    const db = new Database(file);
    expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
    db.close();
  });

  it('rejects an unencodable run alone, not its batch', async function () {
    const store = new SqliteStore(file);
    await store.open();
    let deep: unknown = 'leaf';
    for (let depth = 0; depth < 100_000; depth++) deep = [deep];
    const results = await Promise.allSettled([
      store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook')),
      store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook', { input: deep as never })),
      store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook')),
    ]);
    expect(results.map((result) => result.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.pendingCount()).to.equal(2);
    await store.close();
  });

  it('keeps runs and work across reopening', async function () {
    const first = new SqliteStore(file);
    await first.open();
    const run = await first.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    const [item] = await first.claim('worker-a', 1, 60_000);
    await first.recordAttempt({ ...item, attempt: 1 });
    await first.close();

    const second = new SqliteStore(file);
    await second.open();
    expect((await second.getRun(run.id))?.status).to.equal('running');
    expect(await second.pendingCount()).to.equal(1);
    await second.close();
  });

  it('resolves concurrent createRun calls together', async function () {
    const store = new SqliteStore(file);
    await store.open();
    const runs = await Promise.all(
      Array.from({ length: 50 }, () =>
        store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook')),
      ),
    );
    expect(new Set(runs.map((run) => run.id)).size).to.equal(50);
    expect(await store.pendingCount()).to.equal(50);
    await store.close();
  });

  it('resolves createRun only after the WAL fsync', async function () {
    // WalSync takes node:fs fdatasync when the store opens, so the stand-in is installed first.
    const fsModule = fs as unknown as { fdatasync: typeof fs.fdatasync };
    const realFdatasync = fsModule.fdatasync;
    const pendingSyncs: { fd: number; callback: (error: NodeJS.ErrnoException | null) => void }[] = [];
    fsModule.fdatasync = ((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      pendingSyncs.push({ fd, callback });
    }) as typeof fs.fdatasync;
    let store: SqliteStore;
    try {
      store = new SqliteStore(file);
      await store.open();
    } finally {
      fsModule.fdatasync = realFdatasync;
    }
    let acknowledged = false;
    const created = store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook')).then(() => {
      acknowledged = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pendingSyncs, 'fsync calls').to.have.length(1);
    if (process.platform === 'linux') {
      expect(fs.readlinkSync(`/proc/self/fd/${pendingSyncs[0].fd}`)).to.equal(`${file}-wal`);
    }
    expect(acknowledged, 'createRun resolved before the fsync ended').to.equal(false);
    pendingSyncs[0].callback(null);
    await created;
    expect(acknowledged).to.equal(true);
    await store.close();
  });

  it('rejects a failing completion alone', async function () {
    const store = new SqliteStore(file);
    await store.open();
    const runs = await Promise.all(
      [1, 2, 3].map(() => store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'))),
    );
    const items = await store.claim('worker-a', 3, 60_000);
    expect(items).to.have.length(3);
    const byRun = new Map(items.map((item) => [item.runId, item]));
    // The CHECK constraint on events.status fails the second completion's insert.
    const invalid = { ...event('hook'), status: 'unknown' as 'emitted' };
    const results = await Promise.allSettled(
      runs.map((run, index) =>
        store.complete(byRun.get(run.id)!, { events: [index === 1 ? invalid : event('hook')], children: [] }),
      ),
    );
    expect(results.map((result) => result.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(await store.listEvents(runs[0].id)).to.have.length(1);
    expect(await store.listEvents(runs[1].id)).to.have.length(0);
    expect(await store.listEvents(runs[2].id)).to.have.length(1);
    expect((await store.getRun(runs[0].id))?.status).to.equal('succeeded');
    expect((await store.getRun(runs[1].id))?.status).to.equal('running');
    expect(await store.pendingCount(), 'the failed item stays pending').to.equal(1);
    await store.close();
  });

  it('rejects createRun on a closed store', async function () {
    const store = new SqliteStore(file);
    await store.open();
    await store.close();
    let caught: unknown;
    try {
      await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(Error);
    expect((caught as Error).message).to.contain('is not open');
  });

  it('records retried and interrupted attempts', async function () {
    const store = new SqliteStore(file);
    await store.open();
    const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    const [item] = await store.claim('worker-a', 1, 20);
    await store.recordAttempt({ ...item, attempt: 1 });
    await new Promise((resolve) => setTimeout(resolve, 40));

    const [again] = await store.claim('worker-b', 1, 60_000);
    await store.recordAttempt({ ...again, attempt: 2 });
    await store.complete(
      { ...again, attempt: 2 },
      { events: [], children: [], retryAt: Date.now(), retryReason: '503 from Fleet' },
    );
    const [third] = await store.claim('worker-b', 1, 60_000);
    await store.recordAttempt({ ...third, attempt: 3 });
    await store.complete({ ...third, attempt: 3 }, { events: [event('hook')], children: [] });

    const attempts = await store.listAttempts(run.id);
    expect(attempts.map((attempt) => attempt.attempt)).to.deep.equal([1, 2, 3]);
    expect(attempts.map((attempt) => attempt.workerId)).to.deep.equal([
      'worker-a',
      'worker-b',
      'worker-b',
    ]);
    expect(attempts[0].outcome).to.equal('interrupted');
    expect(attempts[1].outcome).to.equal('retry: 503 from Fleet');
    expect(attempts[2].outcome).to.equal('emitted');
    await store.close();
  });

  it('prunes finished runs before a time', async function () {
    const store = new SqliteStore(file);
    await store.open();
    const old = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    const [item] = await store.claim('worker-a', 1, 60_000);
    await store.complete(item, { events: [event('hook')], children: [] });
    const running = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));

    expect(await store.prune(Date.now() + 1)).to.equal(1);
    expect(await store.getRun(old.id)).to.equal(undefined);
    expect(await store.listEvents(old.id)).to.deep.equal([]);
    expect((await store.getRun(running.id))?.status).to.equal('running');
    expect(await store.pendingCount()).to.equal(1);
    await store.close();
  });
});

describe('SQLite migrations', function () {
  let file: string;

  beforeEach(function () {
    file = freshFile();
  });

  afterEach(removeDirectory);

  it('creates the latest schema', async function () {
    const store = new SqliteStore(file);
    await store.open();
    await store.close();
    const db = new Database(file);
    expect(schemaVersion(db)).to.equal(latest);
    db.close();
  });

  it('upgrades a version 1 database', async function () {
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    expect(migrate(db, file, sqliteMigrations.slice(0, 1))).to.deep.equal({ from: 0, to: 1 });
    db.prepare(
      "INSERT INTO runs (id, story, story_name, status, created_at) VALUES ('old-run', 'fleet', " +
        "'Fleet', 'running', 1000)",
    ).run();
    db.prepare(
      'INSERT INTO work_items (id, run_id, story, action, input, lineage, available_at) ' +
        "VALUES ('old-item', 'old-run', 'fleet', 'hook', '{\"a\":1}', '{}', 0)",
    ).run();
    db.close();

    const store = new SqliteStore(file);
    await store.open();
    const [item] = await store.claim('worker-a', 1, 60_000);
    expect(item.id).to.equal('old-item');
    expect(item.input).to.deep.equal({ a: 1 });
    await store.recordAttempt({ ...item, attempt: 1 });
    const result = await store.complete(item, { events: [event('hook')], children: [] });
    expect(result.runFinished).to.equal('succeeded');
    expect(await store.listAttempts('old-run')).to.have.length(1);
    await store.close();

    const check = new Database(file);
    expect(schemaVersion(check)).to.equal(latest);
    check.close();
  });

  it('upgrades a version 4 database with rows', async function () {
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    expect(migrate(db, file, sqliteMigrations.slice(0, 4))).to.deep.equal({ from: 0, to: 4 });
    const insertRun = db.prepare(
      'INSERT INTO runs (id, story, story_name, status, created_at, finished_at, error) ' +
        "VALUES (?, 'fleet', 'Fleet', ?, ?, ?, ?)",
    );
    insertRun.run('done-run', 'succeeded', 1000, 1100, null);
    insertRun.run('failed-run', 'failed', 2000, 2100, 'hook failed');
    insertRun.run('open-run', 'running', 3000, null, null);
    const insertEvent = db.prepare(
      'INSERT INTO events (id, run_id, action, parent_id, status, payload, error, summary, ' +
        "attempt, started_at, finished_at) VALUES (?, ?, ?, ?, ?, '{}', ?, NULL, 1, ?, ?)",
    );
    insertEvent.run('done-hook', 'done-run', 'hook', null, 'emitted', null, 1000, 1010);
    insertEvent.run('done-step', 'done-run', 'step', 'done-hook', 'emitted', null, 1020, 1030);
    insertEvent.run('failed-hook', 'failed-run', 'hook', null, 'failed', 'hook failed', 2000, 2010);
    insertEvent.run('open-hook', 'open-run', 'hook', null, 'emitted', null, 3000, 3010);
    const insertItem = db.prepare(
      'INSERT INTO work_items (id, run_id, story, action, parent_event_id, input, lineage, ' +
        "attempt, available_at, claimed_by, lease_until) VALUES (?, 'open-run', 'fleet', ?, " +
        "'open-hook', '{\"a\":1}', '{}', ?, ?, ?, ?)",
    );
    // One item is claimed by a worker that is gone and its lease expired long ago.
    insertItem.run('claimed-item', 'step', 1, 3010, 'worker-gone', 3020);
    insertItem.run('waiting-item', 'other', 0, 3010, null, null);
    db.prepare(
      'INSERT INTO attempts (run_id, item_id, action, attempt, worker_id, started_at) ' +
        "VALUES ('open-run', 'claimed-item', 'step', 1, 'worker-gone', 3015)",
    ).run();
    db.close();

    const store = new SqliteStore(file);
    await store.open();
    expect(fs.statSync(`${file}-wal`).size, 'WAL bytes after the upgrade').to.equal(0);
    expect((await store.listRuns({})).map((run) => run.id)).to.deep.equal([
      'open-run',
      'failed-run',
      'done-run',
    ]);
    expect((await store.listRuns({ status: 'failed' }))[0].error).to.equal('hook failed');
    expect((await store.listRuns({ status: 'running' })).map((run) => run.id)).to.deep.equal(['open-run']);
    expect((await store.listEvents('done-run')).map((stored) => stored.id)).to.deep.equal([
      'done-hook',
      'done-step',
    ]);

    const items = await store.claim('worker-a', 10, 60_000);
    expect(items.map((item) => item.id)).to.deep.equal(['claimed-item', 'waiting-item']);
    expect(items[0].attempt).to.equal(1);
    expect(items[0].input).to.deep.equal({ a: 1 });
    const [claimed, waiting] = items;
    await store.recordAttempt({ ...claimed, attempt: 2 });
    await store.complete({ ...claimed, attempt: 2 }, { events: [event('step')], children: [] });
    await store.recordAttempt({ ...waiting, attempt: 1 });
    const result = await store.complete(
      { ...waiting, attempt: 1 },
      { events: [event('other')], children: [] },
    );
    expect(result.runFinished).to.equal('succeeded');
    const trail = await store.listEvents('open-run');
    expect(trail.map((stored) => stored.action)).to.deep.equal(['hook', 'step', 'other']);
    const attempts = await store.listAttempts('open-run');
    expect(attempts.map((attempt) => [attempt.itemId, attempt.attempt, attempt.outcome])).to.deep.equal([
      ['claimed-item', 1, 'interrupted'],
      ['claimed-item', 2, 'emitted'],
      ['waiting-item', 1, 'emitted'],
    ]);
    await store.close();

    const check = new Database(file);
    expect(schemaVersion(check)).to.equal(latest);
    const sequences = check.prepare('SELECT name FROM sqlite_sequence').all();
    expect(sequences, 'AUTOINCREMENT counters left').to.deep.equal([]);
    const indexes = check
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")
      .all();
    expect(indexes, 'indexes on events').to.deep.equal([{ name: 'events_by_run' }]);
    const duplicate = () =>
      check
        .prepare(
          'INSERT INTO work_items (id, run_id, story, action, input, lineage, available_at) ' +
            "VALUES ('waiting-item', 'open-run', 'fleet', 'other', '{}', '{}', 0)",
        )
        .run();
    duplicate();
    expect(duplicate, 'a second item with one id in one run').to.throw(/UNIQUE constraint failed/);
    check.close();
  });

  it('rejects a database from a newer engine', async function () {
    const store = new SqliteStore(file);
    await store.open();
    await store.close();
    const db = new Database(file);
    db.prepare(
      "INSERT INTO schema_version (version, description, applied_at) VALUES (?, 'future', 0)",
    ).run(latest + 1);
    db.close();

    const newer = new SqliteStore(file);
    let caught: unknown;
    try {
      await newer.open();
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(SchemaTooNewError);
    expect((caught as Error).message).to.equal(
      `${file}: database schema version ${latest + 1} is newer than the newest this engine ` +
        `supports (${latest}). Upgrade story-engine, or pass --db with another file.`,
    );
  });

  it('applies each step once', async function () {
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    expect(migrate(db, file)).to.deep.equal({ from: 0, to: latest });
    expect(migrate(db, file)).to.deep.equal({ from: latest, to: latest });
    const rows = db.prepare('SELECT version FROM schema_version ORDER BY version').all();
    expect(rows).to.deep.equal(sqliteMigrations.map((step) => ({ version: step.version })));
    db.close();
  });
});

describe('SqliteStore claims of gone workers', function () {
  let store: SqliteStore;

  beforeEach(async function () {
    store = new SqliteStore(freshFile());
    await store.open();
  });

  afterEach(async function () {
    await store.close();
    await removeDirectory();
  });

  it('lists workers with live claims', async function () {
    for (let i = 0; i < 3; i += 1) {
      await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    }
    await store.claim('worker-a', 1, 60_000);
    await store.claim('worker-b', 1, 20);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await store.listClaimants()).to.deep.equal(['worker-a']);
  });

  it('releases claims and interrupts attempts', async function () {
    const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    await store.createRun({ story: 'fleet', storyName: 'Fleet' }, workItem('hook'));
    const [gone] = await store.claim('worker-gone', 1, 60_000);
    await store.recordAttempt({ ...gone, attempt: 1 });
    await store.claim('worker-alive', 1, 60_000);

    expect(await store.releaseClaimsOf(['worker-gone'])).to.equal(1);
    expect(await store.listClaimants()).to.deep.equal(['worker-alive']);
    const [again] = await store.claim('worker-new', 10, 60_000);
    expect(again.id).to.equal(gone.id);
    expect(again.attempt).to.equal(1);
    const attempts = await store.listAttempts(run.id);
    expect(attempts).to.have.length(1);
    expect(attempts[0].outcome).to.equal('interrupted');
  });
});
