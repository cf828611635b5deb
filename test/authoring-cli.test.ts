import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { renderGraph } from '../engine/graph';
import { loadStory } from '../engine/loader';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'engine', 'cli.js');
const FLEET = 'stories/fleet-os-update.yaml';
const TINES_FLEET = 'test/fixtures/tines/fleet-os-update.json';
const run = promisify(execFile);

async function engine(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

function fleetStory() {
  const result = loadStory(path.join(ROOT, FLEET));
  if (result.story === undefined) throw new Error(JSON.stringify(result.problems));
  return result.story;
}

describe('engine graph', () => {
  it('prints the Fleet story as Mermaid', async () => {
    const outcome = await engine(['graph', FLEET]);
    expect(outcome.code, outcome.stderr).to.equal(0);
    expect(outcome.stdout).to.equal(renderGraph(fleetStory(), 'mermaid'));
  });

  it('prints DOT with --format dot', async () => {
    const outcome = await engine(['graph', FLEET, '--format', 'dot']);
    expect(outcome.code, outcome.stderr).to.equal(0);
    expect(outcome.stdout).to.contain('  a_get_host -> a_mdm_command;');
  });

  it('rejects an unknown format', async () => {
    const outcome = await engine(['graph', FLEET, '--format', 'svg']);
    expect(outcome.code).to.equal(1);
    expect(outcome.stderr).to.contain('must be one of mermaid, dot, got "svg"');
  });

  it('reports load problems with positions', async () => {
    const outcome = await engine(['graph', 'test/fixtures/broken/unknown-after.yaml']);
    expect(outcome.code).to.equal(1);
    expect(outcome.stderr).to.contain('test/fixtures/broken/unknown-after.yaml:6:12');
    expect(outcome.stdout).to.equal('');
  });

  it('matches the graph shown in docs', () => {
    const docs = readFileSync(path.join(ROOT, 'docs', 'graph.md'), 'utf8');
    const block = /```mermaid\n([\s\S]*?)```/.exec(docs);
    expect(block, 'docs/graph.md has no mermaid block').not.to.equal(null);
    expect(block?.[1]).to.equal(renderGraph(fleetStory(), 'mermaid'));
  });
});

describe('engine import', () => {
  it('writes YAML that loads without problems', async () => {
    const outcome = await engine(['import', TINES_FLEET]);
    expect(outcome.code, outcome.stderr).to.equal(0);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'import-')), 'fleet.yaml');
    writeFileSync(file, outcome.stdout);
    const loaded = loadStory(file);
    expect(loaded.problems).to.deep.equal([]);
    expect(loaded.story?.actions.map((action) => action.type)).to.deep.equal([
      'webhook',
      'trigger',
      'trigger',
      'http_request',
      'transform',
      'transform',
      'http_request',
    ]);
  });

  it('lists what was not converted on stderr', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'import-'));
    const file = path.join(dir, 'export.json');
    const agents = [
      { type: 'Agents::WebhookAgent', name: 'Hook', options: { path: 'in' } },
      { type: 'Agents::EmailAgent', name: 'Mail', options: {} },
    ];
    writeFileSync(file, JSON.stringify({ name: 'x', agents, links: [{ source: 0, receiver: 1 }] }));
    const outcome = await engine(['import', file]);
    expect(outcome.code).to.equal(0);
    expect(outcome.stderr).to.contain(
      'not converted: mail.type: Agents::EmailAgent has no equivalent action type',
    );
  });

  it('names the variables to set', async () => {
    const outcome = await engine(['import', TINES_FLEET]);
    expect(outcome.stderr).to.contain(
      'set before running: FLEET_API_TOKEN, CALENDAR_WEBHOOK_SECRET, FLEET_URL, MACOS_VERSION',
    );
  });

  it('rejects a file that is not an export', async () => {
    const outcome = await engine(['import', 'package.json']);
    expect(outcome.code).to.equal(1);
    expect(outcome.stderr).to.contain('package.json: Tines export has no "agents" array');
    expect(outcome.stdout).to.equal('');
  });

  it('rejects invalid JSON', async () => {
    const outcome = await engine(['import', FLEET]);
    expect(outcome.code).to.equal(1);
    expect(outcome.stderr).to.contain(`${FLEET} is not valid JSON`);
  });
});
