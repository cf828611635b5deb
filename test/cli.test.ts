import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { startFakeFleet, type FakeFleet } from '../fake-fleet/server';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'engine', 'cli.js');
const run = promisify(execFile);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function engine(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

describe('engine command line', () => {
  let fleet: FakeFleet;

  before(async () => {
    fleet = await startFakeFleet({ tokens: ['cli-token-1234'] });
  });

  after(async () => {
    await fleet.close();
  });

  it('validate passes the example stories', async () => {
    const outcome = await engine(['validate', 'stories']);
    expect(outcome.code).to.equal(0);
    expect(outcome.stdout).to.contain('stories/fleet-os-update.yaml: ok (8 actions');
  });

  it('validate exits 1 with file:line:col for a broken story', async () => {
    const outcome = await engine(['validate', 'test/fixtures/broken/unknown-after.yaml']);
    expect(outcome.code).to.equal(1);
    expect(outcome.stderr).to.contain(
      'test/fixtures/broken/unknown-after.yaml:6:12 actions[1].after: no action named "hok"; did you mean "hook"?',
    );
  });

  it('run --event prints the trail and exits 0', async () => {
    const outcome = await engine(
      ['run', 'stories/fleet-os-update.yaml', '--event', 'stories/events/fleet-calendar.json'],
      { FLEET_URL: fleet.url, FLEET_API_TOKEN: 'cli-token-1234' },
    );
    expect(outcome.code, outcome.stderr).to.equal(0);
    expect(outcome.stdout).to.match(/ok\s+run_mdm_command .* 200 POST /);
    expect(outcome.stdout).to.contain('run succeeded');
    expect(fleet.commands).to.have.length(1);
  });

  it('run --event exits 1 and names the action when Fleet rejects the token', async () => {
    const outcome = await engine(
      ['run', 'stories/fleet-os-update.yaml', '--event', 'stories/events/fleet-calendar.json'],
      { FLEET_URL: fleet.url, FLEET_API_TOKEN: 'wrong-token-5678' },
    );
    expect(outcome.code).to.equal(1);
    expect(outcome.stdout).to.contain('run failed: get_host: GET');
    expect(outcome.stdout).to.contain('returned 401: Authentication required');
    expect(outcome.stdout + outcome.stderr).to.not.contain('wrong-token-5678');
  });

  it('run refuses to start without the credential variable', async () => {
    const outcome = await engine(
      ['run', 'stories/fleet-os-update.yaml', '--event', 'stories/events/fleet-calendar.json'],
      { FLEET_API_TOKEN: '' },
    );
    expect(outcome.code).to.equal(1);
    expect(outcome.stderr).to.contain(
      'credential "fleet_api_token" reads environment variable FLEET_API_TOKEN, which is not set',
    );
  });

  it('runs names a missing store and creates none', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'story-engine-history-'));
    const outcome = await engine(['runs', '--stories', dir]);
    expect(outcome.code).to.equal(1);
    expect(outcome.stderr).to.contain(`no store at ${path.join(dir, '.engine', 'engine.db')}`);
    expect(existsSync(path.join(dir, '.engine'))).to.equal(false);
  });

  it('run --event reads the event from standard input', async () => {
    const child = execFile(
      process.execPath,
      [CLI, 'run', 'stories/fleet-os-update.yaml', '--event', '-'],
      { cwd: ROOT, env: { ...process.env, FLEET_URL: fleet.url, FLEET_API_TOKEN: 'cli-token-1234' } },
    );
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stdin?.end('{"host_id": 11058, "failing_policies": [{"id": 1, "name": "Other policy"}]}');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).to.equal(0);
    expect(stdout).to.match(/--\s+os_policy_failing .* no match/);
  });
});
