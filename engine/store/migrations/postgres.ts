/**
 * Schema of the PostgreSQL store as ordered migration steps, with the same tables, columns and
 * versions as the SQLite store. The table `schema_version` records each applied step, so an
 * older schema upgrades in place and a schema written by a newer engine is rejected.
 */
import type { PoolClient } from 'pg';
import type { Migration } from './sqlite';

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, events and pending work items',
    sql: `
      CREATE TABLE runs (
        id text PRIMARY KEY,
        story text NOT NULL,
        story_name text NOT NULL,
        status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        created_at bigint NOT NULL,
        finished_at bigint,
        error text
      );
      CREATE INDEX runs_by_created ON runs (created_at);
      CREATE INDEX runs_by_story ON runs (story, created_at);
      CREATE INDEX runs_by_status ON runs (status, created_at);

      CREATE TABLE events (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        action text NOT NULL,
        parent_id text,
        status text NOT NULL CHECK (status IN ('emitted', 'skipped', 'failed')),
        payload json NOT NULL,
        error text,
        summary text,
        attempt integer NOT NULL,
        started_at bigint NOT NULL,
        finished_at bigint NOT NULL
      );
      CREATE INDEX events_by_run ON events (run_id, seq);

      CREATE TABLE work_items (
        seq bigserial PRIMARY KEY,
        id text NOT NULL UNIQUE,
        run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        story text NOT NULL,
        action text NOT NULL,
        parent_event_id text,
        input json NOT NULL,
        lineage json NOT NULL,
        attempt integer NOT NULL DEFAULT 0,
        available_at bigint NOT NULL,
        claimed_by text,
        lease_until bigint
      );
      CREATE INDEX work_items_by_available ON work_items (available_at, seq);
      CREATE INDEX work_items_by_run ON work_items (run_id);
    `,
  },
  {
    version: 2,
    description: 'attempt history, so a trail shows retried and interrupted attempts',
    sql: `
      ALTER TABLE work_items ADD COLUMN retry_reason text;

      CREATE TABLE attempts (
        run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        item_id text NOT NULL,
        action text NOT NULL,
        attempt integer NOT NULL,
        worker_id text,
        started_at bigint NOT NULL,
        finished_at bigint,
        outcome text,
        PRIMARY KEY (item_id, attempt)
      );
      CREATE INDEX attempts_by_run ON attempts (run_id, started_at);
    `,
  },
  {
    version: 3,
    description: 'action state, for transforms that remember earlier events',
    sql: `
      CREATE TABLE action_state (
        scope text NOT NULL,
        key text NOT NULL,
        value text,
        expires_at bigint,
        PRIMARY KEY (scope, key)
      );
    `,
  },
];

/** Error raised when a schema was written by a newer engine than this one. */
export class PostgresSchemaTooNewError extends Error {
  constructor(schema: string, found: number, supported: number) {
    super(
      `PostgreSQL schema "${schema}": version ${found} is newer than the newest this engine ` +
        `supports (${supported}). Upgrade story-engine on every worker, or use another schema.`,
    );
    this.name = 'PostgresSchemaTooNewError';
  }
}

/**
 * Creates the schema when missing and applies the steps it lacks, all in one transaction.
 * An advisory lock makes engine processes that start together apply each step once.
 * Returns the versions before and after.
 */
export async function migrate(
  client: PoolClient,
  schema: string,
  migrations: readonly Migration[] = postgresMigrations,
): Promise<{ from: number; to: number }> {
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`story-engine:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    // The steps name tables without a schema, so they land in this one.
    await client.query(`SET LOCAL search_path TO "${schema}"`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_version (' +
        'version integer PRIMARY KEY, description text NOT NULL, applied_at bigint NOT NULL)',
    );
    const from = await schemaVersion(client);
    if (from > latest) throw new PostgresSchemaTooNewError(schema, from, latest);

    for (const step of migrations) {
      if (step.version <= from) continue;
      await client.query(step.sql);
      await client.query(
        'INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)',
        [step.version, step.description, Date.now()],
      );
    }
    const to = await schemaVersion(client);
    await client.query('COMMIT');
    return { from, to };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function schemaVersion(client: PoolClient): Promise<number> {
  const result = await client.query<{ version: number | null }>(
    'SELECT max(version) AS version FROM schema_version',
  );
  return result.rows[0].version ?? 0;
}
