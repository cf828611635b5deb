import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DEFAULT_TOKEN, startFakeFleet, type FakeFleet } from '../../fake-fleet/server';
import { SqliteStore } from '../../engine/store/sqlite';
import { startEngine, storyFile } from '../helpers/engine';
import { ROOT } from './child';
import { addHosts, calendarBody, fleetStory } from './fleet';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('history and replay commands', function () {
  this.timeout(30_000);
  let fleet: FakeFleet;
  let directory: string;
  let db: string;
  let story: string;
  let succeeded: string;
  let failed: string;
  let env: Record<string, string>;

  function cli(...args: string[]): Promise<CliResult> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'dist', 'engine', 'cli.js'), ...args],
        { env: { ...process.env, ...env } },
        (error, stdout, stderr) => {
          const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  before(async function () {
    fleet = await startFakeFleet();
    const [hostId] = addHosts(fleet, 1);
    env = { FLEET_URL: fleet.url, FLEET_API_TOKEN: DEFAULT_TOKEN };
    directory = mkdtempSync(join(tmpdir(), 'story-engine-history-'));
    db = join(directory, 'engine.db');
    story = storyFile(fleetStory());
    const engine = await startEngine([story], { store: new SqliteStore(db), env });
    const send = async () => {
      const response = await fetch(`${engine.url}/webhook/fleet/calendar`, {
        method: 'POST',
        // The token in a header must reach the trail redacted.
        headers: { 'content-type': 'application/json', 'x-fleet-token': DEFAULT_TOKEN },
        body: JSON.stringify(calendarBody(hostId)),
      });
      const { run_id: runId } = (await response.json()) as { run_id: string };
      return (await engine.runner.waitForRun(runId)).id;
    };
    succeeded = await send();
    await new Promise((resolve) => setTimeout(resolve, 5));
    fleet.injectFault({ route: 'commands/run', method: 'POST', status: 500 });
    failed = await send();
    await engine.stop();
  });

  after(async function () {
    await fleet.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('lists runs newest first', async function () {
    const result = await cli('runs', '--db', db);
    expect(result.code).to.equal(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).to.match(/^RUN +STATUS +STORY +STARTED +TOOK +ERROR$/);
    expect(lines[1]).to.match(new RegExp(`^${failed} +failed +fleet `));
    expect(lines[1]).to.contain('run_mdm_command: POST');
    expect(lines[2]).to.match(new RegExp(`^${succeeded} +succeeded +fleet `));
    expect(lines).to.have.length(3);
  });

  it('filters runs by status and story', async function () {
    const failedOnly = await cli('runs', '--db', db, '--status', 'failed', '--json');
    const runs = JSON.parse(failedOnly.stdout) as { id: string }[];
    expect(runs.map((run) => run.id)).to.deep.equal([failed]);
    const other = await cli('runs', '--db', db, '--story', 'other');
    expect(other.stdout.trim()).to.equal('no runs found');
  });

  it('filters runs by since', async function () {
    const recent = await cli('runs', '--db', db, '--since', '1h', '--json');
    expect((JSON.parse(recent.stdout) as unknown[]).length).to.equal(2);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const none = await cli('runs', '--db', db, '--since', future, '--json');
    expect(JSON.parse(none.stdout)).to.deep.equal([]);
  });

  it('rejects a bad --since', async function () {
    const result = await cli('runs', '--db', db, '--since', 'yesterday');
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('invalid --since value "yesterday"');
  });

  it('prints the trail with redacted payloads', async function () {
    const result = await cli('events', failed, '--db', db);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.contain(`run ${failed} of story "Fleet OS update" (fleet)`);
    expect(result.stdout).to.match(/ok +get_host /);
    expect(result.stdout).to.match(/FAIL +run_mdm_command /);
    expect(result.stdout).to.contain('"x-fleet-token": "[REDACTED]"');
    expect(result.stdout).not.to.contain(DEFAULT_TOKEN);
  });

  it('reports an unknown run', async function () {
    const result = await cli('events', 'no-such-run', '--db', db);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain('run no-such-run not found; list runs with: engine runs');
  });

  it('replays from the failed action', async function () {
    const gets = fleet.requests.filter((request) => request.method === 'GET').length;
    const result = await cli('replay', failed, '--db', db, '--stories', story);
    expect(result.stderr).to.equal('');
    expect(result.code).to.equal(0);
    expect(result.stdout).to.contain(`replay of run ${failed} from run_mdm_command`);
    expect(result.stdout).to.match(/run succeeded$/m);
    expect(fleet.requests.filter((request) => request.method === 'GET')).to.have.length(gets);
    expect(fleet.commands).to.have.length(2);
  });

  it('refuses to replay a succeeded run', async function () {
    const result = await cli('replay', succeeded, '--db', db, '--stories', story);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.contain(
      `run ${succeeded} succeeded, so no action failed; use --from-start to run it again`,
    );
  });

  it('replays from the webhook', async function () {
    const gets = fleet.requests.filter((request) => request.method === 'GET').length;
    const result = await cli('replay', succeeded, '--from-start', '--db', db, '--stories', story);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.contain(`replay of run ${succeeded} from calendar_webhook`);
    expect(fleet.requests.filter((request) => request.method === 'GET')).to.have.length(gets + 1);
  });
});
