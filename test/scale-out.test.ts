/**
 * Two `engine run` processes share one PostgreSQL schema: both accept webhooks and claim work,
 * and when one is killed with SIGKILL the other takes over its claims once their lease expires.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_TOKEN, startFakeFleet, type FakeFleet } from '../fake-fleet/server';
import { startEngine, storyFile } from './helpers/engine';
import { PostgresStore } from '../engine/store/postgres';
import type { RunRecord } from '../engine/types';
import { dropSchema, findTestDatabase, queryOnce, uniqueSchemaName } from './store/postgres-database';

const CLI = path.resolve(__dirname, '../engine/cli.js');
const FLEET_STORY = path.resolve(__dirname, '../../stories/fleet-os-update.yaml');
const OS_POLICY = { id: 479, name: 'macOS - OS version up to date' };
const WEBHOOKS = 40;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Worker {
  process: ChildProcess;
  url: string;
  exited: Promise<void>;
}

/** Starts `engine run` and resolves with its URL once it logs that it started. */
function startWorker(databaseUrl: string, fleetUrl: string): Promise<Worker> {
  const child = spawn(
    process.execPath,
    [CLI, 'run', FLEET_STORY, '--port', '0', '--db', databaseUrl, '--lease', '2s'],
    {
      env: {
        ...process.env,
        FLEET_URL: fleetUrl,
        FLEET_API_TOKEN: DEFAULT_TOKEN,
        ENGINE_CONCURRENCY: '4',
        ENGINE_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`engine run did not start within 10 s; stderr: ${stderr}`));
    }, 10_000);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg !== 'engine started') return;
      clearTimeout(timer);
      resolve({ process: child, url: entry.url!, exited });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`engine run exited with code ${code} before it started; stderr: ${stderr}`));
    });
  });
}

/** Polls `check` every 100 ms until it returns true; fails the test after `ms`. */
async function waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

describe('engine run on PostgreSQL', function () {
  this.timeout(30_000);
  let url: string;
  let schema: string;
  let fleet: FakeFleet;
  let store: PostgresStore;
  const workers: Worker[] = [];

  before(async function () {
    const database = await findTestDatabase();
    if (!database.url) {
      console.warn(`      ${database.reason}`);
      this.skip();
    }
    url = database.url;
    schema = uniqueSchemaName();
    const hosts = Array.from({ length: WEBHOOKS }, (_, index) => ({
      id: 5000 + index,
      uuid: `00000000-0000-4000-8000-${String(5000 + index).padStart(12, '0')}`,
      policies: [{ ...OS_POLICY, response: 'fail', critical: false, calendar_events_enabled: true }],
    }));
    // Slow host lookups keep work in flight long enough to kill a worker in the middle of it.
    const faults = [{ route: 'hosts/:id', method: 'GET', delayMs: 300, times: WEBHOOKS * 2 }];
    fleet = await startFakeFleet({ hosts, faults });
    store = new PostgresStore({ connectionString: url, schema });
    await store.open();
  });

  after(async function () {
    for (const worker of workers) {
      if (worker.process.exitCode === null && worker.process.signalCode === null) {
        worker.process.kill('SIGKILL');
        await worker.exited;
      }
    }
    await store?.close();
    await fleet?.close();
    if (url) await dropSchema(url, schema);
  });

  it('shares the load and survives a killed worker', async function () {
    const databaseUrl = `${url}${url.includes('?') ? '&' : '?'}schema=${schema}`;
    const [doomed, survivor] = await Promise.all([
      startWorker(databaseUrl, fleet.url),
      startWorker(databaseUrl, fleet.url),
    ]);
    workers.push(doomed, survivor);

    const runHost = new Map<string, string>();
    for (const [index, host] of fleet.hosts.entries()) {
      const target = index % 2 === 0 ? doomed : survivor;
      const response = await fetch(`${target.url}/webhook/fleet/calendar`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ host_id: host.id, failing_policies: [OS_POLICY] }),
      });
      expect(response.ok, `webhook ${index} status ${response.status}`).to.equal(true);
      const { run_id: runId } = (await response.json()) as { run_id: string };
      runHost.set(runId, host.uuid);
    }

    // Kill the worker while it has an attempt that has not finished.
    const doomedPid = doomed.process.pid as number;
    await waitFor('an open attempt of the worker to kill', 10_000, async () => {
      const rows = await queryOnce(
        url,
        `SELECT 1 FROM "${schema}".attempts
         WHERE finished_at IS NULL AND action = 'get_host' AND worker_id LIKE $1`,
        [`%:${doomedPid}:%`],
      );
      return rows.length > 0;
    });
    doomed.process.kill('SIGKILL');
    await doomed.exited;
    const commandsAtKill = fleet.commands.length;

    let runs: RunRecord[] = [];
    await waitFor('every run to finish', 15_000, async () => {
      runs = await store.listRuns({});
      return runs.length === WEBHOOKS && runs.every((run) => run.status !== 'running');
    });

    expect(commandsAtKill, 'commands sent before the kill').to.be.lessThan(WEBHOOKS);
    expect(runs).to.have.length(WEBHOOKS);
    expect(await store.pendingCount()).to.equal(0);

    // Fleet stores each command under its CommandUUID, which the run keeps in its trail, so a
    // command resent after the kill is rejected as a duplicate and every host gets one.
    for (const host of fleet.hosts) {
      const commands = fleet.commands.filter((command) => command.hostUuids.includes(host.uuid));
      expect(commands, `commands for host ${host.uuid}`).to.have.length(1);
    }

    const workerPid = (workerId: string | null) => workerId?.split(':')[1];
    let interruptedTotal = 0;
    let survivorAttempts = 0;
    for (const run of runs) {
      const events = await store.listEvents(run.id);
      const sent = events.filter((event) => event.action === 'run_mdm_command');
      expect(sent, `run_mdm_command events of run ${run.id}`).to.have.length(1);

      const attempts = await store.listAttempts(run.id);
      const interrupted = attempts.filter((attempt) => attempt.outcome === 'interrupted');
      interruptedTotal += interrupted.length;
      survivorAttempts += attempts.filter(
        (attempt) => workerPid(attempt.workerId) === String(survivor.process.pid),
      ).length;
      for (const attempt of interrupted) {
        expect(workerPid(attempt.workerId), 'worker of an interrupted attempt').to.equal(
          String(doomedPid),
        );
      }
      // A resend after the kill gets 409 from Fleet, which the story accepts as success.
      expect(run.status, `status of run ${run.id}: ${run.error}`).to.equal('succeeded');
    }
    expect(interruptedTotal, 'attempts cut off by the kill').to.be.greaterThan(0);
    expect(survivorAttempts, 'attempts made by the surviving worker').to.be.greaterThan(0);
  });
});

describe('runner lease renewal on PostgreSQL', function () {
  let url: string;
  let schema: string;

  before(async function () {
    const database = await findTestDatabase();
    if (!database.url) {
      console.warn(`      ${database.reason}`);
      this.skip();
    }
    url = database.url;
    schema = uniqueSchemaName();
  });

  after(async function () {
    if (url) await dropSchema(url, schema);
  });

  it('keeps an action longer than its lease', async function () {
    let requests = 0;
    let started: () => void = () => undefined;
    const requestStarted = new Promise<void>((resolve) => (started = resolve));
    const slow = http.createServer((_req, res) => {
      requests++;
      started();
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), 2400);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    const story = storyFile(
      `path: slow
actions:
  - name: hook
    type: webhook
    path: in
  - name: call
    type: http_request
    after: hook
    method: GET
    url: "${slowUrl}/work"
`,
    );
    const store = new PostgresStore({ connectionString: url, schema });
    const engine = await startEngine([story], { store, leaseMs: 600 });
    const rival = new PostgresStore({ connectionString: url, schema });
    await rival.open();
    try {
      const response = await fetch(`${engine.url}/webhook/slow/in`, { method: 'POST' });
      const { run_id: runId } = (await response.json()) as { run_id: string };
      await requestStarted;

      // Four lease lengths pass while the request runs: renewals must keep the item claimed.
      for (let check = 0; check < 20; check++) {
        expect(await rival.claim('rival', 10, 60_000), `claim ${check}`).to.deep.equal([]);
        await sleep(100);
      }
      const run = await engine.runner.waitForRun(runId);
      expect(run.status).to.equal('succeeded');
      expect(requests).to.equal(1);
      const attempts = await store.listAttempts(runId);
      expect(attempts.map((attempt) => attempt.outcome)).to.deep.equal(['emitted']);
    } finally {
      await rival.close();
      await engine.stop();
      await new Promise((resolve) => slow.close(resolve));
    }
  });
});
