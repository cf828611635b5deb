/**
 * Compares expected values from a story test with what a run produced. Objects match on the
 * listed fields only, lists item by item, and a string starting with `=` is a JSONata test
 * evaluated on the actual value.
 */
import jsonata from 'jsonata';

export interface Mismatch {
  /** Path of the differing value, such as `requests.get_host.body.host_uuids[0]`. */
  path: string;
  expected: unknown;
  actual: unknown;
  /** Set for a JSONata test: the expression that yielded a falsy value or failed. */
  reason?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)
    ? `${path}.${key}`
    : `${path}[${JSON.stringify(key)}]`;
}

function equal(left: unknown, right: unknown): boolean {
  return JSON.stringify(left) === JSON.stringify(right);
}

/** Collects every mismatch between expected and actual under `path`. */
export async function match(
  expected: unknown,
  actual: unknown,
  path: string,
  options: { caseInsensitiveKeys?: boolean } = {},
): Promise<Mismatch[]> {
  if (typeof expected === 'string' && expected.startsWith('=')) {
    return testExpression(expected.slice(1), actual, path);
  }
  if (typeof expected === 'string' && expected.startsWith('\\=')) {
    return actual === expected.slice(1) ? [] : [{ path, expected: expected.slice(1), actual }];
  }
  if (isObject(expected)) {
    if (!isObject(actual)) return [{ path, expected, actual }];
    const mismatches: Mismatch[] = [];
    for (const [key, value] of Object.entries(expected)) {
      const actualKey = options.caseInsensitiveKeys
        ? Object.keys(actual).find((candidate) => candidate.toLowerCase() === key.toLowerCase())
        : key;
      const found = actualKey === undefined ? undefined : actual[actualKey];
      mismatches.push(...(await match(value, found, join(path, key))));
    }
    return mismatches;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      return [{ path, expected, actual }];
    }
    const mismatches: Mismatch[] = [];
    for (const [index, value] of expected.entries()) {
      mismatches.push(...(await match(value, actual[index], join(path, index))));
    }
    return mismatches;
  }
  return equal(expected, actual) ? [] : [{ path, expected, actual }];
}

async function testExpression(source: string, actual: unknown, path: string): Promise<Mismatch[]> {
  try {
    const result: unknown = await jsonata(source).evaluate(actual);
    if (
      result !== undefined &&
      result !== null &&
      result !== false &&
      result !== '' &&
      result !== 0
    ) {
      return [];
    }
    return [
      {
        path,
        expected: `=${source}`,
        actual,
        reason: `yielded ${JSON.stringify(result) ?? 'nothing'}`,
      },
    ];
  } catch (error) {
    const message = (error as { message?: string }).message ?? String(error);
    return [{ path, expected: `=${source}`, actual, reason: `JSONata error: ${message}` }];
  }
}
