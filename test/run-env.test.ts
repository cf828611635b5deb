import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'engine', 'cli.js');
const run = promisify(execFile);

const STORY = `path: shop
actions:
  - name: order
    type: webhook
    path: orders
  - name: keep
    type: transform
    after: order
    payload: { id: "=order.body.id" }
`;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the engine CLI with only the given ENGINE_* variables set. */
async function engine(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('ENGINE_')),
  );
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...base, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

describe('engine run environment variables', function () {
  let directory: string;
  let story: string;
  let event: string;

  before(function () {
    directory = mkdtempSync(path.join(os.tmpdir(), 'story-engine-env-'));
    story = path.join(directory, 'shop.yaml');
    event = path.join(directory, 'order.json');
    writeFileSync(story, STORY);
    writeFileSync(event, '{"id": 42}');
  });

  after(function () {
    rmSync(directory, { recursive: true, force: true });
  });

  it('names a variable for every option in --help', async function () {
    const outcome = await engine(['run', '--help']);
    expect(outcome.code).to.equal(0);
    // Commander wraps long descriptions, so join each option's lines before checking.
    const options = outcome.stdout
      .split('\n')
      .slice(outcome.stdout.split('\n').findIndex((line) => line.startsWith('Options:')) + 1)
      .join('\n')
      .split(/\n(?= {2}-)/)
      .filter((option) => !option.includes('--help'));
    expect(options.length).to.be.greaterThan(8);
    for (const option of options) expect(option, option).to.match(/env:\s+ENGINE_[A-Z_]+/);
  });

  it('reads the event and output format', async function () {
    const outcome = await engine(['run', story], { ENGINE_EVENT: event, ENGINE_JSON: 'true' });
    expect(outcome.code, outcome.stderr).to.equal(0);
    const result = JSON.parse(outcome.stdout) as { run: { status: string }; events: unknown[] };
    expect(result.run.status).to.equal('succeeded');
    expect(result.events).to.have.length(2);
  });

  it('lets an option override its variable', async function () {
    const outcome = await engine(['run', story, '--event', event], {
      ENGINE_EVENT: path.join(directory, 'missing.json'),
    });
    expect(outcome.code, outcome.stderr).to.equal(0);
    expect(outcome.stdout).to.include('succeeded');
  });

  it('rejects an invalid number naming the variable', async function () {
    const outcome = await engine(['run', story], { ENGINE_PORT: 'eighty' });
    expect(outcome.code).to.not.equal(0);
    expect(outcome.stderr).to.include("value 'eighty' from env 'ENGINE_PORT' is invalid");
  });

  it('rejects a boolean that is not true or false', async function () {
    const outcome = await engine(['run', story], { ENGINE_EVENT: event, ENGINE_JSON: 'maybe' });
    expect(outcome.code).to.not.equal(0);
    expect(outcome.stdout, 'nothing runs before the check').to.equal('');
    expect(outcome.stderr).to.include('invalid ENGINE_JSON value "maybe": expected true or false');
  });
});
