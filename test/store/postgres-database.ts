/**
 * Finds the PostgreSQL test database and gives each test run its own schema. Set
 * ENGINE_TEST_PG_URL to choose the database; otherwise the tests try database `test` on
 * 127.0.0.1:5432 as the OS user, `postgres` and `root`, with trust authentication.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { Client } from 'pg';

export interface TestDatabase {
  /** Connection string that worked, or undefined when none did. */
  url: string | undefined;
  /** Why the PostgreSQL tests skip when url is undefined. */
  reason: string;
}

let found: Promise<TestDatabase> | undefined;

export function findTestDatabase(): Promise<TestDatabase> {
  found ??= probe();
  return found;
}

async function probe(): Promise<TestDatabase> {
  const fromEnv = process.env.ENGINE_TEST_PG_URL;
  const candidates = fromEnv
    ? [fromEnv]
    : [...new Set([userInfo().username, 'postgres', 'root'])].map(
        (user) => `postgres://${user}@127.0.0.1:5432/test`,
      );
  const failures: string[] = [];
  for (const url of candidates) {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return { url, reason: '' };
    } catch (error) {
      failures.push(`${url}: ${(error as Error).message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return {
    url: undefined,
    reason:
      `PostgreSQL tests skipped, no test database reachable (${failures.join('; ')}); ` +
      'start PostgreSQL or set ENGINE_TEST_PG_URL',
  };
}

/** Returns a schema name that no other test run uses. */
export function uniqueSchemaName(): string {
  return `engine_test_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Runs one query on its own connection, for tests that inspect or alter the tables. */
export async function queryOnce<T = Record<string, unknown>>(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query(sql, values);
    return result.rows as T[];
  } finally {
    await client.end();
  }
}
