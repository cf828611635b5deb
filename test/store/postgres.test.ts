import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Pool } from 'pg';
import { migrate, postgresMigrations } from '../../engine/store/migrations/postgres';
import { openStore as openStoreFor, storeFor } from '../../engine/store';
import { PostgresStore } from '../../engine/store/postgres';
import type { NewEvent, NewWorkItem, WorkItem } from '../../engine/store/types';
import { describeStoreContract, event } from './contract';
import { dropSchema, findTestDatabase, queryOnce, uniqueSchemaName } from './postgres-database';

const versions = postgresMigrations.map((step) => step.version);
const latest = versions[versions.length - 1];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function webhookItem(overrides: Partial<NewWorkItem> = {}): NewWorkItem {
  return {
    runId: '',
    story: 'fleet',
    action: 'calendar_webhook',
    parentEventId: null,
    input: { method: 'POST', body: { host_id: 7 } },
    lineage: {},
    availableAt: Date.now(),
    ...overrides,
  };
}

function childOf(item: WorkItem, action: string, eventId: string): NewWorkItem {
  return {
    runId: item.runId,
    story: item.story,
    action,
    parentEventId: eventId,
    input: { from: item.action },
    lineage: { ...item.lineage, [item.action]: { from: item.action } },
    availableAt: Date.now(),
  };
}

function emitted(item: WorkItem, payload: NewEvent['payload'] = { ok: true }): NewEvent {
  return {
    id: randomUUID(),
    action: item.action,
    parentId: item.parentEventId,
    status: 'emitted',
    payload,
    error: null,
    summary: null,
    attempt: item.attempt,
    startedAt: Date.now(),
    finishedAt: Date.now(),
  };
}

function failed(item: WorkItem, error: string): NewEvent {
  return { ...emitted(item), status: 'failed', payload: null, error };
}

describe('PostgresStore', function () {
  let url: string;
  let schema: string;
  const opened: PostgresStore[] = [];

  async function openStore(options: { schema?: string; poolSize?: number } = {}) {
    const store = new PostgresStore({ connectionString: url, schema, ...options });
    await store.open();
    opened.push(store);
    return store;
  }

  before(async function () {
    const database = await findTestDatabase();
    if (!database.url) {
      console.warn(`      ${database.reason}`);
      this.skip();
    }
    url = database.url;
  });

  /** Gives each test of the calling suite a new schema, dropped with its stores afterwards. */
  function useFreshSchema() {
    beforeEach(function () {
      schema = uniqueSchemaName();
    });

    afterEach(async function () {
      await Promise.all(opened.splice(0).map((store) => store.close()));
      await dropSchema(url, schema);
    });
  }

  describeStoreContract(
    'postgres',
    async () => {
      schema = uniqueSchemaName();
      const store = new PostgresStore({ connectionString: url, schema });
      await store.open();
      return store;
    },
    () => dropSchema(url, schema),
  );

  describe('schema', function () {
    useFreshSchema();

    it('records the applied versions', async function () {
      await openStore();
      const rows = await queryOnce<{ version: number }>(
        url,
        `SELECT version FROM "${schema}".schema_version ORDER BY version`,
      );
      expect(rows.map((row) => row.version)).to.deep.equal(versions);
    });

    it('applies migrations once when reopened', async function () {
      const first = await openStore();
      await first.close();
      await openStore();
      const rows = await queryOnce(url, `SELECT version FROM "${schema}".schema_version`);
      expect(rows).to.have.length(versions.length);
    });

    it('migrates once when processes start together', async function () {
      await Promise.all([openStore(), openStore(), openStore()]);
      const rows = await queryOnce(url, `SELECT version FROM "${schema}".schema_version`);
      expect(rows).to.have.length(versions.length);
    });

    it('upgrades a version 1 schema', async function () {
      const pool = new Pool({ connectionString: url });
      const client = await pool.connect();
      try {
        const applied = await migrate(client, schema, postgresMigrations.slice(0, 1));
        expect(applied).to.deep.equal({ from: 0, to: 1 });
      } finally {
        client.release();
        await pool.end();
      }
      await queryOnce(
        url,
        `INSERT INTO "${schema}".runs (id, story, story_name, status, created_at)
         VALUES ('old-run', 'fleet', 'Fleet', 'running', 1000)`,
      );
      await queryOnce(
        url,
        `INSERT INTO "${schema}".work_items (id, run_id, story, action, input, lineage,
           available_at)
         VALUES ('old-item', 'old-run', 'fleet', 'hook', '{"a":1}', '{}', 0)`,
      );

      const store = await openStore();
      const [item] = await store.claim('worker-a', 1, 60_000);
      expect(item.id).to.equal('old-item');
      expect(item.input).to.deep.equal({ a: 1 });
      await store.recordAttempt({ ...item, attempt: 1 });
      const result = await store.complete(item, { events: [event('hook')], children: [] });
      expect(result.runFinished).to.equal('succeeded');
      expect(await store.listAttempts('old-run')).to.have.length(1);
      const rows = await queryOnce<{ version: number }>(
        url,
        `SELECT max(version) AS version FROM "${schema}".schema_version`,
      );
      expect(rows[0].version).to.equal(latest);
    });

    it('rejects a schema newer than the code', async function () {
      await (await openStore()).close();
      await queryOnce(
        url,
        `INSERT INTO "${schema}".schema_version (version, description, applied_at)
         VALUES ($1, 'future', 0)`,
        [latest + 1],
      );
      const store = new PostgresStore({ connectionString: url, schema });
      let message = '';
      await store.open().catch((error: Error) => (message = error.message));
      expect(message).to.include(`version ${latest + 1} is newer`);
      expect(message).to.include('Upgrade story-engine on every worker');
    });

    it('rejects an invalid schema name', function () {
      expect(() => new PostgresStore({ schema: 'Bad-Name' })).to.throw(
        'invalid PostgreSQL schema name "Bad-Name"',
      );
    });

    it('reports a dropped idle connection', async function () {
      const errors: Error[] = [];
      const application = `engine_test_${schema}`;
      const store = new PostgresStore({
        connectionString: url,
        schema,
        pool: { application_name: application },
        onPoolError: (error) => errors.push(error),
      });
      opened.push(store);
      await store.open();
      await queryOnce(
        url,
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [application],
      );
      for (let wait = 0; wait < 50 && errors.length === 0; wait++) await sleep(20);
      expect(errors).to.have.length(1);
      expect(errors[0].message).to.include('terminat');
      expect(await store.pendingCount(), 'query on a new connection').to.equal(0);
    });

    it('names the server it cannot reach', async function () {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as AddressInfo).port;
      await new Promise((resolve) => probe.close(resolve));

      const closed = `postgres://engine:secret@127.0.0.1:${port}/test`;
      const store = new PostgresStore({ connectionString: closed });
      let message = '';
      await store.open().catch((error: Error) => (message = error.message));
      expect(message).to.include(`connecting to PostgreSQL at postgres://engine:***@127.0.0.1:${port}`);
      expect(message).to.include('ECONNREFUSED');
      expect(message).not.to.include('secret');
    });

    it('reports a store that is not open', async function () {
      const store = new PostgresStore({ connectionString: url, schema });
      let message = '';
      await store.pendingCount().catch((error: Error) => (message = error.message));
      expect(message).to.equal('PostgreSQL store is not open: call open() first');
    });
  });

  describe('runs and work', function () {
    useFreshSchema();

    it('round-trips the first work item', async function () {
      const store = await openStore();
      const input = { z: 1, a: [1, 'two', null], text: 'nul \u0000 inside', nested: { b: true } };
      const run = await store.createRun(
        { story: 'fleet', storyName: 'Fleet OS update' },
        webhookItem({ id: 'item-1', input, lineage: { up: { x: 1 } } }),
      );
      const [item] = await store.claim('worker-a', 10, 30_000);
      expect(item.id).to.equal('item-1');
      expect(item.runId).to.equal(run.id);
      expect(item.input).to.deep.equal(input);
      expect(Object.keys(item.input as object)).to.deep.equal(['z', 'a', 'text', 'nested']);
      expect(item.lineage).to.deep.equal({ up: { x: 1 } });
      expect(item.attempt).to.equal(0);
      expect(item.parentEventId).to.equal(null);
      expect(await store.getRun(run.id)).to.deep.equal(run);
    });

    it('fails a run with its first failed event', async function () {
      const store = await openStore();
      const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [item] = await store.claim('w', 1, 30_000);
      const result = await store.complete(item, {
        events: [failed(item, 'GET host returned 500'), failed(item, 'second failure')],
        children: [],
      });
      expect(result).to.deep.equal({ runFinished: 'failed' });
      const record = await store.getRun(run.id);
      expect(record?.status).to.equal('failed');
      expect(record?.error).to.equal('GET host returned 500');
    });

    it('keeps null and string payloads', async function () {
      const store = await openStore();
      const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [item] = await store.claim('w', 1, 30_000);
      await store.complete(item, {
        events: [
          { ...emitted(item), status: 'skipped', payload: null },
          emitted(item, 'plain text'),
        ],
        children: [],
      });
      const payloads = (await store.listEvents(run.id)).map((event) => event.payload);
      expect(payloads).to.deep.equal([null, 'plain text']);
    });

    it('holds an item until its availableAt', async function () {
      const store = await openStore();
      await store.createRun(
        { story: 'fleet', storyName: 'Fleet' },
        webhookItem({ availableAt: Date.now() + 800 }),
      );
      expect(await store.claim('w', 1, 30_000)).to.deep.equal([]);
      await sleep(850);
      expect(await store.claim('w', 1, 30_000)).to.have.length(1);
    });

    it('stores the retry reason', async function () {
      const store = await openStore();
      const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [item] = await store.claim('w', 1, 30_000);
      await store.recordAttempt({ ...item, attempt: 1 });
      const result = await store.complete(
        { ...item, attempt: 1 },
        { events: [], children: [], retryAt: Date.now() + 800, retryReason: '503 from Fleet' },
      );
      expect(result).to.deep.equal({});
      expect(await store.claim('w', 1, 30_000)).to.deep.equal([]);
      await sleep(850);
      const [again] = await store.claim('w', 1, 30_000);
      expect(again.attempt).to.equal(1);
      expect(await store.listEvents(run.id)).to.deep.equal([]);
      const rows = await queryOnce<{ retry_reason: string }>(
        url,
        `SELECT retry_reason FROM "${schema}".work_items WHERE id = $1`,
        [item.id],
      );
      expect(rows[0].retry_reason).to.equal('503 from Fleet');
    });

    it('records retried and interrupted attempts', async function () {
      const store = await openStore();
      const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [item] = await store.claim('worker-a', 1, 20);
      await store.recordAttempt({ ...item, attempt: 1 });
      await sleep(60);

      const [again] = await store.claim('worker-b', 1, 60_000);
      await store.recordAttempt({ ...again, attempt: 2 });
      await store.complete(
        { ...again, attempt: 2 },
        { events: [], children: [], retryAt: Date.now(), retryReason: '503 from Fleet' },
      );
      const [third] = await store.claim('worker-b', 1, 60_000);
      await store.recordAttempt({ ...third, attempt: 3 });
      await store.complete({ ...third, attempt: 3 }, { events: [emitted(third)], children: [] });

      const attempts = await store.listAttempts(run.id);
      expect(attempts.map((attempt) => attempt.attempt)).to.deep.equal([1, 2, 3]);
      expect(attempts.map((attempt) => attempt.workerId)).to.deep.equal([
        'worker-a',
        'worker-b',
        'worker-b',
      ]);
      expect(attempts.map((attempt) => attempt.outcome)).to.deep.equal([
        'interrupted',
        'retry: 503 from Fleet',
        'emitted',
      ]);
      expect(attempts.every((attempt) => attempt.finishedAt !== null)).to.equal(true);
    });

    it('marks released attempts', async function () {
      const store = await openStore();
      const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [item] = await store.claim('worker-a', 1, 60_000);
      await store.recordAttempt({ ...item, attempt: 1 });
      await store.release([item]);
      const [attempt] = await store.listAttempts(run.id);
      expect(attempt.outcome).to.equal('released');
    });

    it('prunes finished runs before a time', async function () {
      const store = await openStore();
      const old = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [item] = await store.claim('worker-a', 1, 60_000);
      await store.recordAttempt({ ...item, attempt: 1 });
      await store.complete(item, { events: [emitted(item)], children: [] });
      const running = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());

      expect(await store.prune(Date.now() + 1)).to.equal(1);
      expect(await store.getRun(old.id)).to.equal(undefined);
      expect(await store.listEvents(old.id)).to.deep.equal([]);
      expect(await store.listAttempts(old.id)).to.deep.equal([]);
      expect((await store.getRun(running.id))?.status).to.equal('running');
      expect(await store.pendingCount()).to.equal(1);
    });
  });

  describe('claims of gone workers', function () {
    useFreshSchema();

    it('lists workers with live claims', async function () {
      const store = await openStore();
      await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      await store.claim('worker-a', 1, 60_000);
      await store.claim('worker-b', 1, 20);
      await sleep(60);
      expect(await store.listClaimants()).to.deep.equal(['worker-a']);
    });

    it('renews only leases it holds', async function () {
      const store = await openStore();
      await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [mine] = await store.claim('worker-a', 1, 200);
      const [theirs] = await store.claim('worker-b', 1, 200);
      expect(await store.renewLeases('worker-a', [mine.id, theirs.id], 60_000)).to.equal(1);
      expect(await store.renewLeases('worker-a', [], 60_000)).to.equal(0);
      await sleep(250);
      const taken = await store.claim('worker-c', 10, 60_000);
      expect(taken.map((item) => item.id)).to.deep.equal([theirs.id]);
    });

    it('releases claims and interrupts attempts', async function () {
      const store = await openStore();
      const run = await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      await store.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [gone] = await store.claim('worker-gone', 1, 60_000);
      await store.recordAttempt({ ...gone, attempt: 1 });
      await store.claim('worker-alive', 1, 60_000);

      expect(await store.releaseClaimsOf(['worker-gone'])).to.equal(1);
      expect(await store.releaseClaimsOf([])).to.equal(0);
      expect(await store.listClaimants()).to.deep.equal(['worker-alive']);
      const [again] = await store.claim('worker-new', 10, 60_000);
      expect(again.id).to.equal(gone.id);
      expect(again.attempt).to.equal(1);
      const attempts = await store.listAttempts(run.id);
      expect(attempts).to.have.length(1);
      expect(attempts[0].outcome).to.equal('interrupted');
    });
  });

  describe('storeFor with a postgres URL', function () {
    useFreshSchema();

    it('takes the schema from the URL', function () {
      const store = storeFor('postgres://engine@127.0.0.1:5432/test?schema=engine_a', '.');
      expect(store).to.be.instanceOf(PostgresStore);
      expect((store as PostgresStore).schema).to.equal('engine_a');
    });

    it('defaults to the public schema', function () {
      const store = storeFor('postgresql://127.0.0.1/test', '.');
      expect((store as PostgresStore).schema).to.equal('public');
    });

    it('rejects an invalid schema parameter', function () {
      expect(() => storeFor('postgres://engine:secret@127.0.0.1/test?schema=a-b', '.')).to.throw(
        'invalid --db value "postgres://engine:***@127.0.0.1/test?schema=a-b": ' +
          'invalid PostgreSQL schema name "a-b"',
      );
    });

    it('opens the schema it names', async function () {
      const separator = url.includes('?') ? '&' : '?';
      const store = await openStoreFor(`${url}${separator}schema=${schema}`, '.');
      try {
        expect(store.kind).to.equal('postgres');
        expect(await store.pendingCount()).to.equal(0);
        const rows = await queryOnce(url, `SELECT version FROM "${schema}".schema_version`);
        expect(rows).to.have.length(versions.length);
      } finally {
        await store.close();
      }
    });
  });

  describe('two workers', function () {
    useFreshSchema();

    it('take over an expired lease', async function () {
      const a = await openStore();
      const b = await openStore();
      const run = await a.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      const [lost] = await a.claim('worker-a', 1, 800);
      expect(await b.claim('worker-b', 1, 30_000)).to.deep.equal([]);
      await sleep(850);

      const [taken] = await b.claim('worker-b', 1, 30_000);
      expect(taken.id).to.equal(lost.id);
      const owner = await queryOnce<{ claimed_by: string }>(
        url,
        `SELECT claimed_by FROM "${schema}".work_items WHERE id = $1`,
        [lost.id],
      );
      expect(owner[0].claimed_by).to.equal('worker-b');
      expect(await b.complete(taken, { events: [emitted(taken)], children: [] })).to.deep.equal({
        runFinished: 'succeeded',
      });
      // The first worker wakes up late: its completion must not add a second outcome.
      expect(await a.complete(lost, { events: [emitted(lost)], children: [] })).to.deep.equal({});
      expect(await a.listEvents(run.id)).to.have.length(1);
    });

    it('process every item exactly once', async function () {
      const a = await openStore({ poolSize: 4 });
      const b = await openStore({ poolSize: 4 });
      const runs = 150;
      for (let i = 0; i < runs; i++) {
        await a.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
      }
      const processed: string[] = [];
      const finished: string[] = [];

      async function work(store: PostgresStore, workerId: string) {
        for (let round = 0; round < 1000; round++) {
          const items = await store.claim(workerId, 4, 30_000);
          if (items.length === 0) return;
          await Promise.all(
            items.map(async (item) => {
              processed.push(item.id);
              const result = await store.complete(item, { events: [emitted(item)], children: [] });
              if (result.runFinished) finished.push(item.runId);
            }),
          );
        }
      }
      await Promise.all([work(a, 'a1'), work(a, 'a2'), work(b, 'b1'), work(b, 'b2')]);

      expect(processed).to.have.length(runs);
      expect(new Set(processed).size).to.equal(runs);
      expect(new Set(finished).size).to.equal(runs);
      expect(await a.pendingCount()).to.equal(0);
      expect(await b.listRuns({ status: 'succeeded' })).to.have.length(runs);
    });

    it('close a run exactly once', async function () {
      const a = await openStore();
      const b = await openStore();
      for (let round = 0; round < 20; round++) {
        const run = await a.createRun({ story: 'fleet', storyName: 'Fleet' }, webhookItem());
        const [first] = await a.claim('a', 1, 30_000);
        const event = emitted(first);
        await a.complete(first, {
          events: [event],
          children: [childOf(first, 'left', event.id), childOf(first, 'right', event.id)],
        });
        const [onA] = await a.claim('a', 1, 30_000);
        const [onB] = await b.claim('b', 1, 30_000);
        const results = await Promise.all([
          a.complete(onA, { events: [emitted(onA)], children: [] }),
          b.complete(onB, { events: [emitted(onB)], children: [] }),
        ]);
        const closers = results.filter((result) => result.runFinished === 'succeeded');
        expect(closers, `round ${round}`).to.have.length(1);
        expect((await a.getRun(run.id))?.status).to.equal('succeeded');
      }
    });
  });
});
