import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { match } from '../engine/story-test/match';
import { formatResults, lineDiff } from '../engine/story-test/report';
import { runTestFile, type FileResult } from '../engine/story-test/run';
import { renderTestSchema, TEST_SCHEMA_FILE } from '../engine/write-schema';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'engine', 'cli.js');
const ECHO_TESTS = path.join(ROOT, 'test', 'fixtures', 'story-test', 'echo.test.yaml');
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

describe('story test runner', () => {
  let result: FileResult;

  before(async () => {
    result = await runTestFile(ECHO_TESTS);
  });

  const failuresOf = (name: string) => {
    const found = result.cases.find((testCase) => testCase.name === name);
    if (found === undefined) throw new Error(`no case ${name}`);
    return found.failures;
  };

  it('runs every case of the file', () => {
    expect(result.problems).to.deep.equal([]);
    expect(result.cases.map((testCase) => testCase.name)).to.deep.equal([
      'passes with matching request',
      'fails on a different body',
      'fails on an unmatched request',
      'fails on ran and not_ran',
    ]);
  });

  it('passes a case whose checks hold', () => {
    expect(failuresOf('passes with matching request')).to.deep.equal([]);
  });

  it('reports each differing body field', () => {
    const failures = failuresOf('fails on a different body');
    expect(failures).to.have.length(1);
    expect(failures[0].message).to.equal('call sent a different request');
    expect(failures[0].mismatches).to.deep.equal([
      { path: 'requests.call.body.n', expected: '=$ > 20', actual: 12, reason: 'yielded false' },
      { path: 'requests.call.body.tags[1]', expected: 'b', actual: 'c' },
    ]);
  });

  it('fails an unmatched request naming action and URL', () => {
    const messages = failuresOf('fails on an unmatched request').map((failure) => failure.message);
    expect(messages[0]).to.equal(
      'unexpected request from call: POST http://echo.test/items?n=13 (the case has no response for call)',
    );
  });

  it('checks status, ran and not_ran', () => {
    const messages = failuresOf('fails on ran and not_ran').map((failure) => failure.message);
    expect(messages).to.deep.equal([
      'run succeeded, expected failed',
      'call did not run; the run did: hook emitted, big skipped',
      'hook ran but should not have; the run did: hook emitted, big skipped',
    ]);
  });

  it('reports an invalid test file with its position', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'story-test-'));
    const file = path.join(dir, 'x.test.yaml');
    writeFileSync(file, 'cases:\n  - name: a\n    event: {}\n    expect: { stauts: failed }\n');
    const broken = await runTestFile(file);
    expect(broken.cases).to.deep.equal([]);
    expect(broken.problems[0]).to.contain(
      `${file}:4:13 cases[0].expect: must NOT have additional properties "stauts"`,
    );
  });

  it('reports a missing story', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'story-test-'));
    const file = path.join(dir, 'gone.test.yaml');
    writeFileSync(file, 'cases:\n  - name: a\n    event: {}\n    expect: {}\n');
    const broken = await runTestFile(file);
    expect(broken.problems[0]).to.equal(`story ${path.join(dir, 'gone.yaml')} does not load:`);
    expect(broken.problems[1]).to.contain('cannot read story');
  });
});

describe('story test output', () => {
  it('prints mocha-style lines and a count', async () => {
    const text = formatResults([await runTestFile(ECHO_TESTS)]).text;
    expect(text).to.match(/ {2}✔ passes with matching request \(\d+ ms\)\n/);
    expect(text).to.contain('  1) fails on a different body\n');
    expect(text).to.contain(
      '  call sent a different request (- expected, + actual)\n' +
        '    requests.call.body.n: =$ > 20 yielded false\n' +
        '      + 12\n' +
        '    requests.call.body.tags[1]:\n' +
        '      - "b"\n' +
        '      + "c"\n',
    );
    expect(text.endsWith('1 passed, 3 failed\n')).to.equal(true);
  });

  it('diffs lines expected first', () => {
    expect(lineDiff(['a', 'b', 'c'], ['a', 'x', 'c'])).to.deep.equal(['  a', '- b', '+ x', '  c']);
    expect(lineDiff([], ['x'])).to.deep.equal(['+ x']);
  });
});

describe('story test matching', () => {
  it('ignores fields not listed', async () => {
    expect(await match({ a: 1 }, { a: 1, b: 2 }, 'x')).to.deep.equal([]);
  });

  it('compares lists item by item', async () => {
    expect(await match([1, 2], [1, 2, 3], 'x')).to.deep.equal([
      { path: 'x', expected: [1, 2], actual: [1, 2, 3] },
    ]);
  });

  it('reads a JSONata error as a mismatch', async () => {
    const [mismatch] = await match('=$$$(', 1, 'x');
    expect(mismatch.reason).to.match(/^JSONata error: /);
  });

  it('treats an escaped equals sign as text', async () => {
    expect(await match('\\=a', '=a', 'x')).to.deep.equal([]);
  });

  it('matches header names case-insensitively', async () => {
    const mismatches = await match({ Authorization: 'B' }, { authorization: 'B' }, 'h', {
      caseInsensitiveKeys: true,
    });
    expect(mismatches).to.deep.equal([]);
  });
});

describe('engine test', () => {
  it('passes the Fleet story tests', async () => {
    const outcome = await engine(['test', 'stories']);
    expect(outcome.code, outcome.stdout + outcome.stderr).to.equal(0);
    expect(outcome.stdout).to.contain('✔ policy failing schedules the OS update');
    expect(outcome.stdout).to.contain('✔ error payload is recorded and sends nothing');
    expect(outcome.stdout).to.contain('✔ other failing policy does nothing');
    expect(outcome.stdout).to.contain('3 passed, 0 failed');
  });

  it('finds the test file beside a story', async () => {
    const outcome = await engine(['test', 'stories/fleet-os-update.yaml']);
    expect(outcome.code).to.equal(0);
    expect(outcome.stdout).to.contain('stories/fleet-os-update.test.yaml');
  });

  it('exits 1 when a case fails', async () => {
    const outcome = await engine(['test', 'test/fixtures/story-test/echo.test.yaml']);
    expect(outcome.code).to.equal(1);
    expect(outcome.stdout).to.contain('1 passed, 3 failed');
  });

  it('exits 1 for a story without tests', async () => {
    const outcome = await engine(['test', 'test/fixtures/story-test/echo.yaml', 'nowhere']);
    expect(outcome.code).to.equal(1);
    expect(outcome.stderr).to.contain('engine test: nowhere: no such file or folder');
  });

  it('keeps the schema file current', () => {
    expect(readFileSync(TEST_SCHEMA_FILE, 'utf8'), 'run `npm run schema`').to.equal(
      renderTestSchema(),
    );
  });
});
