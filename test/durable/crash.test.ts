import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DEFAULT_TOKEN, startFakeFleet, type FakeFleet } from '../../fake-fleet/server';
import { SqliteStore } from '../../engine/store/sqlite';
import { addHosts, postWebhook } from './fleet';
import { ROOT, startEngineProcess, type EngineProcess } from './child';

const WEBHOOKS = 200;
const SENDERS = 16;
/** Acknowledgements after which the first engine is killed, while work is in flight. */
const KILL_AFTER_ACKS = 80;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends one webhook per host with SENDERS requests at a time. `onAck` runs after each 201.
 * Returns the run id of each acknowledged host; a refused or cut connection is not an ack.
 */
async function sendAll(
  url: string,
  hostIds: number[],
  onAck: (count: number) => void = () => undefined,
): Promise<Map<number, string>> {
  const acked = new Map<number, string>();
  const queue = [...hostIds];
  const sender = async () => {
    for (let hostId = queue.shift(); hostId !== undefined; hostId = queue.shift()) {
      try {
        const answer = await postWebhook(url, hostId);
        if (answer.status === 201 && answer.runId) {
          acked.set(hostId, answer.runId);
          onAck(acked.size);
        }
      } catch {
        // The engine was killed: this webhook was not acknowledged.
      }
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, sender));
  return acked;
}

/** Polls the store until none of `runIds` is running, for at most `timeoutMs`. */
async function waitForRuns(store: SqliteStore, runIds: string[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs = await Promise.all(runIds.map((id) => store.getRun(id)));
    const open = runs.filter((run) => run === undefined || run.status === 'running');
    if (open.length === 0 || Date.now() > deadline) return runs;
    await sleep(100);
  }
}

const COMMAND_UUID = /<key>CommandUUID<\/key>\s*<string>([^<]+)<\/string>/;

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

/** Reads the CommandUUID out of the base64 plist of a commands/run request body. */
function commandUuidOf(body: unknown): string {
  const command = (body as { command?: string } | undefined)?.command ?? '';
  return COMMAND_UUID.exec(Buffer.from(command, 'base64').toString('utf8'))?.[1] ?? '(none)';
}

describe('engine run after kill -9', function () {
  this.timeout(60_000);
  let fleet: FakeFleet;
  let directory: string;
  let engines: EngineProcess[] = [];

  beforeEach(async function () {
    fleet = await startFakeFleet();
    directory = mkdtempSync(join(tmpdir(), 'story-engine-crash-'));
    copyFileSync(join(ROOT, 'stories', 'fleet-os-update.yaml'), join(directory, 'fleet.yaml'));
  });

  afterEach(async function () {
    for (const engine of engines) engine.child.kill('SIGKILL');
    engines = [];
    await fleet.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('processes every acknowledged webhook', async function () {
    const hostIds = addHosts(fleet, WEBHOOKS);
    // Slow Fleet down so that requests are in flight when the engine dies.
    fleet.injectFault({ route: 'hosts/:id', delayMs: 15, times: 10 * WEBHOOKS });
    fleet.injectFault({ route: 'commands/run', delayMs: 15, times: 10 * WEBHOOKS });
    const env = { FLEET_URL: fleet.url, FLEET_API_TOKEN: DEFAULT_TOKEN };
    const db = join(directory, 'engine.db');
    const args = [join(directory, 'fleet.yaml'), '--db', db, '--log-level', 'info'];

    const first = await startEngineProcess(args, env);
    engines.push(first);
    let killed = false;
    const firstAcks = await sendAll(first.url, hostIds, (count) => {
      if (count < KILL_AFTER_ACKS || killed) return;
      killed = true;
      first.child.kill('SIGKILL');
    });
    expect(await first.exited).to.equal('SIGKILL');
    expect(firstAcks.size).to.be.at.least(KILL_AFTER_ACKS);
    expect(firstAcks.size).to.be.below(WEBHOOKS);

    const second = await startEngineProcess(args, env);
    engines.push(second);
    const rest = hostIds.filter((id) => !firstAcks.has(id));
    const secondAcks = await sendAll(second.url, rest);
    expect(secondAcks.size).to.equal(rest.length);
    const acked = new Map([...firstAcks, ...secondAcks]);
    expect(acked.size).to.equal(WEBHOOKS);

    const store = new SqliteStore(db);
    await store.open();
    try {
      const runs = await waitForRuns(store, [...acked.values()], 20_000);
      const open = runs.filter((run) => run?.status === undefined || run.status === 'running');
      expect(open, 'runs not finished').to.deep.equal([]);

      const accepted = countBy(fleet.commands.map((command) => command.commandUuid));
      const sent = countBy(
        fleet.requests
          .filter((request) => request.method === 'POST')
          .map((request) => commandUuidOf(request.body)),
      );
      const missing: string[] = [];
      const unexplained: string[] = [];
      let interruptedPosts = 0;
      for (const run of runs) {
        if (!run) continue;
        const events = await store.listEvents(run.id);
        const command = events.find((event) => event.action === 'mdm_command');
        const plist = (command?.payload as { plist?: string } | null)?.plist ?? '';
        const uuid = COMMAND_UUID.exec(plist)?.[1] ?? `(no command in run ${run.id})`;
        const attempts = await store.listAttempts(run.id);
        const interrupted = attempts.filter(
          (attempt) => attempt.action === 'run_mdm_command' && attempt.outcome === 'interrupted',
        ).length;
        interruptedPosts += interrupted;

        if (accepted.get(uuid) !== 1) {
          missing.push(`${run.id}: ${accepted.get(uuid) ?? 0} commands`);
        }
        // A request is sent again only when the kill cut off the attempt that sent it.
        if ((sent.get(uuid) ?? 0) - 1 > interrupted) {
          unexplained.push(`${run.id}: ${sent.get(uuid)} requests, ${interrupted} interrupted`);
        }
        // A resent command gets 409 from Fleet, which the story accepts, so every run succeeds.
        if (run.status !== 'succeeded') unexplained.push(`${run.id} ${run.status}: ${run.error}`);
      }
      expect(missing, 'runs without exactly one accepted command').to.deep.equal([]);
      expect(unexplained, 'repeats and failures not caused by the kill').to.deep.equal([]);
      const repeats = [...sent.values()].reduce((sum, count) => sum + count - 1, 0);
      expect(repeats).to.be.at.most(interruptedPosts);
    } finally {
      await store.close();
    }

    second.child.kill('SIGTERM');
    expect(await second.exited).to.equal(0);
  });
});

describe('engine run on SIGTERM', function () {
  this.timeout(60_000);
  let fleet: FakeFleet;
  let directory: string;
  let engines: EngineProcess[] = [];

  beforeEach(async function () {
    fleet = await startFakeFleet();
    directory = mkdtempSync(join(tmpdir(), 'story-engine-stop-'));
    copyFileSync(join(ROOT, 'stories', 'fleet-os-update.yaml'), join(directory, 'fleet.yaml'));
  });

  afterEach(async function () {
    for (const engine of engines) engine.child.kill('SIGKILL');
    engines = [];
    await fleet.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('exits 0 and loses nothing', async function () {
    const hostIds = addHosts(fleet, 120);
    fleet.injectFault({ route: 'hosts/:id', delayMs: 15, times: 10 * hostIds.length });
    fleet.injectFault({ route: 'commands/run', delayMs: 15, times: 10 * hostIds.length });
    const env = { FLEET_URL: fleet.url, FLEET_API_TOKEN: DEFAULT_TOKEN };
    const db = join(directory, 'engine.db');
    const args = [join(directory, 'fleet.yaml'), '--db', db, '--log-level', 'info'];

    const first = await startEngineProcess(args, env);
    engines.push(first);
    let signalled = false;
    const acked = await sendAll(first.url, hostIds, (count) => {
      if (count < 50 || signalled) return;
      signalled = true;
      first.child.kill('SIGTERM');
    });
    expect(await first.exited).to.equal(0);
    expect(first.logs.map((entry) => entry['msg'])).to.include('engine stopped');
    expect(acked.size).to.be.at.least(50);

    const store = new SqliteStore(db);
    await store.open();
    try {
      const unfinished = (await Promise.all([...acked.values()].map((id) => store.getRun(id))))
        .filter((run) => run?.status === 'running');
      const second = await startEngineProcess(args, env);
      engines.push(second);
      const runs = await waitForRuns(store, [...acked.values()], 20_000);
      expect(runs.map((run) => run?.status ?? 'missing').filter((s) => s !== 'succeeded'))
        .to.deep.equal([]);
      // The stop left work for the restart, which the restart then finished.
      expect(unfinished.length).to.be.above(0);

      const accepted = countBy(fleet.commands.map((command) => command.commandUuid));
      const posts = fleet.requests.filter((request) => request.method === 'POST');
      expect(posts).to.have.length(acked.size);
      expect(accepted.size).to.equal(acked.size);
      for (const run of runs) {
        const attempts = await store.listAttempts(run!.id);
        expect(attempts.filter((attempt) => attempt.outcome === 'interrupted')).to.deep.equal([]);
      }
      second.child.kill('SIGTERM');
      expect(await second.exited).to.equal(0);
    } finally {
      await store.close();
    }
  });
});

