/**
 * Schema of the PostgreSQL store, versioned in code. Each migration runs once, in order, inside
 * one transaction, and `schema_version` lists the versions applied. Released migrations never
 * change: a new column or index is a new entry at the end of the list.
 */
import type { PoolClient } from 'pg';

export interface Migration {
  version: number;
  description: string;
  /** SQL statements; `{schema}` is replaced by the quoted schema name. */
  statements: string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, events and work items',
    statements: [
      `CREATE TABLE {schema}.runs (
        id text PRIMARY KEY,
        story text NOT NULL,
        story_name text NOT NULL,
        status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        created_at bigint NOT NULL,
        finished_at bigint,
        error text
      )`,
      `CREATE INDEX runs_created_at ON {schema}.runs (created_at DESC)`,
      // seq keeps the order in which events were recorded, which ids cannot give.
      `CREATE TABLE {schema}.events (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        run_id text NOT NULL REFERENCES {schema}.runs (id) ON DELETE CASCADE,
        action text NOT NULL,
        parent_id text,
        status text NOT NULL CHECK (status IN ('emitted', 'skipped', 'failed')),
        payload json,
        error text,
        summary text,
        attempt integer NOT NULL,
        started_at bigint NOT NULL,
        finished_at bigint NOT NULL
      )`,
      `CREATE INDEX events_run_id ON {schema}.events (run_id, seq)`,
      // A row is claimable when available_at has passed and its lease is missing or expired.
      // claimed_by names the worker that has the lease, for operators.
      `CREATE TABLE {schema}.work_items (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        run_id text NOT NULL REFERENCES {schema}.runs (id) ON DELETE CASCADE,
        story text NOT NULL,
        action text NOT NULL,
        parent_event_id text,
        input json NOT NULL,
        lineage json NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        available_at bigint NOT NULL,
        claimed_by text,
        lease_until bigint,
        retry_reason text
      )`,
      `CREATE INDEX work_items_available_at ON {schema}.work_items (available_at, seq)`,
      `CREATE INDEX work_items_run_id ON {schema}.work_items (run_id)`,
    ],
  },
];

/** Highest schema version this code can apply. */
export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Creates the schema when missing and applies the migrations it lacks. An advisory lock
 * serialises engine processes that start together against one database.
 */
export async function migrate(client: PoolClient, schema: string): Promise<number> {
  const quoted = `"${schema}"`;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`story-engine:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.schema_version (
        version integer PRIMARY KEY,
        description text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const result = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${quoted}.schema_version`,
    );
    const current = result.rows[0].version ?? 0;
    if (current > LATEST_VERSION) {
      throw new Error(
        `PostgreSQL schema "${schema}" is at version ${current}, newer than the latest this ` +
          `engine knows (${LATEST_VERSION}): upgrade the engine or use another schema`,
      );
    }

    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      for (const statement of migration.statements) {
        await client.query(statement.replaceAll('{schema}', quoted));
      }
      await client.query(
        `INSERT INTO ${quoted}.schema_version (version, description) VALUES ($1, $2)`,
        [migration.version, migration.description],
      );
    }
    await client.query('COMMIT');
    return LATEST_VERSION;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}
