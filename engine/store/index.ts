/**
 * Chooses and opens the store named by `--db`: a SQLite file by default, `memory` for the
 * in-memory store, and PostgreSQL URLs for the scale-out backend.
 */
import { join, resolve } from 'node:path';
import { MemoryStore } from './memory';
import { PostgresStore } from './postgres';
import { SqliteStore } from './sqlite';
import type { Store } from './types';

export type { Store } from './types';

/** File name of the default SQLite store, inside `.engine/` beside the stories. */
export const DEFAULT_DB = join('.engine', 'engine.db');

export interface StoreOptions {
  /** Receives errors of idle PostgreSQL connections, which the pool replaces on the next query. */
  onPoolError?: (error: Error) => void;
}

/** Returns the store that `spec` names, not yet opened. */
export function storeFor(spec: string | undefined, storiesDir: string, options: StoreOptions = {}): Store {
  if (spec === undefined) return new SqliteStore(join(storiesDir, DEFAULT_DB));
  const trimmed = spec.trim();
  if (trimmed === '') {
    throw new Error(
      'invalid --db value "": expected a SQLite file path, "memory" or a postgres:// URL',
    );
  }
  if (trimmed === 'memory') return new MemoryStore();
  if (/^postgres(ql)?:\/\//i.test(trimmed)) return postgresStoreFor(trimmed, options);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new Error(
      `invalid --db value "${redactUrl(trimmed)}": unsupported URL scheme; ` +
        'expected a SQLite file path, "memory" or a postgres:// URL',
    );
  }
  return new SqliteStore(resolve(trimmed));
}

/**
 * Builds the PostgreSQL store for a `postgres://` URL. The query parameter `schema` chooses the
 * schema of the tables and is removed before the URL reaches node-postgres.
 */
function postgresStoreFor(spec: string, options: StoreOptions): PostgresStore {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new Error(
      `invalid --db value "${redactUrl(spec)}": not a valid URL; ` +
        'expected postgres://user:password@host:port/database',
    );
  }
  const schema = url.searchParams.get('schema') ?? undefined;
  url.searchParams.delete('schema');
  try {
    return new PostgresStore({ connectionString: url.toString(), schema, ...options });
  } catch (error) {
    throw new Error(`invalid --db value "${redactUrl(spec)}": ${(error as Error).message}`);
  }
}

/** Opens the store that `spec` names: see storeFor for the forms it accepts. */
export async function openStore(
  spec: string | undefined,
  storiesDir: string,
  options: StoreOptions = {},
): Promise<Store> {
  const store = storeFor(spec, storiesDir, options);
  await store.open();
  return store;
}

/** Hides the password of a database URL so it can appear in messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
