/**
 * Formats story test results the way mocha does: a line per case, then each failure with a
 * `- expected` / `+ actual` diff, then `N passed, N failed`.
 */
import type { Mismatch } from './match';
import type { FileResult } from './run';

/** Lines of a JSON rendering, for a line diff. */
function jsonLines(value: unknown): string[] {
  if (value === undefined) return ['(nothing)'];
  return (JSON.stringify(value, null, 2) ?? String(value)).split('\n');
}

/**
 * Diffs two line lists by longest common subsequence: `-` lines are only expected, `+` lines
 * only actual, and shared lines keep two spaces.
 */
export function lineDiff(expected: string[], actual: string[]): string[] {
  const rows = expected.length;
  const cols = actual.length;
  const common: number[][] = Array.from({ length: rows + 1 }, () =>
    new Array<number>(cols + 1).fill(0),
  );
  for (let i = rows - 1; i >= 0; i -= 1) {
    for (let j = cols - 1; j >= 0; j -= 1) {
      common[i][j] =
        expected[i] === actual[j]
          ? common[i + 1][j + 1] + 1
          : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < rows || j < cols) {
    if (i < rows && j < cols && expected[i] === actual[j]) {
      out.push(`  ${expected[i]}`);
      i += 1;
      j += 1;
    } else if (i < rows && (j === cols || common[i + 1][j] >= common[i][j + 1])) {
      out.push(`- ${expected[i]}`);
      i += 1;
    } else {
      out.push(`+ ${actual[j]}`);
      j += 1;
    }
  }
  return out;
}

function formatMismatch(mismatch: Mismatch): string[] {
  const lines = [
    `${mismatch.path}:${mismatch.reason ? ` ${mismatch.expected} ${mismatch.reason}` : ''}`,
  ];
  const diff = mismatch.reason
    ? jsonLines(mismatch.actual).map((line) => `+ ${line}`)
    : lineDiff(jsonLines(mismatch.expected), jsonLines(mismatch.actual));
  return [...lines, ...diff.map((line) => `  ${line}`)];
}

export interface Summary {
  text: string;
  passed: number;
  failed: number;
}

/** Formats the results of several test files; `failed` counts failed cases and broken files. */
export function formatResults(results: FileResult[]): Summary {
  const out: string[] = [];
  const failures: string[][] = [];
  let passed = 0;
  let failed = 0;

  for (const result of results) {
    out.push('', result.file);
    if (result.problems.length > 0) {
      failed += 1;
      failures.push([`${result.file}`, ...result.problems.map((line) => `  ${line}`)]);
      out.push(`  ${failures.length}) the test file could not run`);
      continue;
    }
    for (const testCase of result.cases) {
      if (testCase.failures.length === 0) {
        passed += 1;
        out.push(`  ✔ ${testCase.name} (${testCase.durationMs} ms)`);
        continue;
      }
      failed += 1;
      failures.push([
        `${result.file}: ${testCase.name}`,
        ...testCase.failures.flatMap((failure) => [
          `  ${failure.message}${failure.mismatches ? ' (- expected, + actual)' : ''}`,
          ...(failure.mismatches ?? []).flatMap(formatMismatch).map((line) => `    ${line}`),
        ]),
      ]);
      out.push(`  ${failures.length}) ${testCase.name}`);
    }
  }

  out.push('');
  failures.forEach((lines, index) => {
    out.push(`${index + 1}) ${lines[0]}`, ...lines.slice(1), '');
  });
  out.push(`${passed} passed, ${failed} failed`);
  return { text: `${out.join('\n')}\n`, passed, failed };
}
