/**
 * `engine test [paths...]`: runs story test files (`*.test.yaml`) offline and prints a line
 * per case; exit code 1 when any case fails.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { formatResults } from '../story-test/report';
import { runTestFile, type FileResult } from '../story-test/run';

const TEST_FILE = /\.test\.ya?ml$/i;

/** Expands folders into their test files and story files into the test file beside them. */
export function testFiles(paths: string[]): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  for (const given of paths) {
    let folder = false;
    try {
      folder = statSync(given).isDirectory();
    } catch {
      missing.push(`${given}: no such file or folder`);
      continue;
    }
    if (folder) {
      const found = readdirSync(given)
        .filter((entry) => TEST_FILE.test(entry))
        .sort();
      if (found.length === 0) missing.push(`${given}: no *.test.yaml files in this folder`);
      files.push(...found.map((entry) => path.join(given, entry)));
    } else if (TEST_FILE.test(given)) {
      files.push(given);
    } else {
      const beside = given.replace(/\.(ya?ml)$/i, '.test.$1');
      try {
        statSync(beside);
        files.push(beside);
      } catch {
        missing.push(`${given}: no test file ${beside} beside the story`);
      }
    }
  }
  return { files, missing };
}

export function registerTest(program: Command): void {
  program
    .command('test')
    .description('run story tests (*.test.yaml) offline: canned HTTP responses, no network')
    .argument('[paths...]', 'test files, story files or folders', ['stories'])
    .action(async (paths: string[]) => {
      const { files, missing } = testFiles(paths);
      for (const line of missing) console.error(`engine test: ${line}`);
      const results: FileResult[] = [];
      for (const file of files) results.push(await runTestFile(file));
      const summary = formatResults(results);
      process.stdout.write(summary.text);
      if (summary.failed > 0 || missing.length > 0 || files.length === 0) process.exitCode = 1;
    });
}
