/**
 * Schema of the SQLite store as ordered migration steps. The table `schema_version` records
 * each applied step, so a database opened by a newer engine upgrades in place and a database
 * written by a newer engine is rejected instead of being misread.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, events and pending work items',
    sql: `
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        story TEXT NOT NULL,
        story_name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        created_at INTEGER NOT NULL,
        finished_at INTEGER,
        error TEXT
      );
      CREATE INDEX runs_by_created ON runs (created_at);
      CREATE INDEX runs_by_story ON runs (story, created_at);
      CREATE INDEX runs_by_status ON runs (status, created_at);

      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        action TEXT NOT NULL,
        parent_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('emitted', 'skipped', 'failed')),
        payload TEXT NOT NULL,
        error TEXT,
        summary TEXT,
        attempt INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL
      );
      CREATE INDEX events_by_run ON events (run_id, seq);

      CREATE TABLE work_items (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        story TEXT NOT NULL,
        action TEXT NOT NULL,
        parent_event_id TEXT,
        input TEXT NOT NULL,
        lineage TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        available_at INTEGER NOT NULL,
        claimed_by TEXT,
        lease_until INTEGER
      );
      CREATE INDEX work_items_by_available ON work_items (available_at, seq);
      CREATE INDEX work_items_by_run ON work_items (run_id);
    `,
  },
  {
    version: 2,
    description: 'attempt history, so a trail shows retried and interrupted attempts',
    sql: `
      ALTER TABLE work_items ADD COLUMN retry_reason TEXT;

      CREATE TABLE attempts (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        item_id TEXT NOT NULL,
        action TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        worker_id TEXT,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        outcome TEXT,
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
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (scope, key)
      );
    `,
  },
  {
    version: 4,
    description: 'claim indexes that skip claimed work items',
    // The claim query walked work_items_by_available past every claimed item, reading each
    // row to test its lease. Unclaimed items and leases now have partial indexes of their own.
    sql: `
      CREATE INDEX work_items_unclaimed ON work_items (available_at, seq) WHERE lease_until IS NULL;
      CREATE INDEX work_items_by_lease ON work_items (lease_until) WHERE lease_until IS NOT NULL;
      DROP INDEX work_items_by_available;
    `,
  },
  {
    version: 5,
    description: 'fewer B-trees written per commit',
    // Every B-tree a commit changes adds at least one page to the WAL. AUTOINCREMENT made each
    // commit update sqlite_sequence as well. A plain INTEGER PRIMARY KEY takes the largest seq
    // plus one, which can reuse the seq of a deleted last row but still sorts after every row
    // present, so ordering by seq keeps insertion order. Events are never looked up by id, so
    // their unique index goes. Work items and attempts each had a key on the item id and an
    // index by run. One unique index that starts with run_id now serves both, and statements
    // name an item by run id and item id. runs_by_status moved an entry to the large
    // 'succeeded' part on every finished run. The partial index keeps only running and failed
    // runs, and a query for succeeded runs walks runs_by_created instead.
    sql: `
      CREATE TABLE events_v5 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        action TEXT NOT NULL,
        parent_id TEXT,
        status TEXT NOT NULL CHECK (status IN ('emitted', 'skipped', 'failed')),
        payload TEXT NOT NULL,
        error TEXT,
        summary TEXT,
        attempt INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL
      );
      INSERT INTO events_v5 (seq, id, run_id, action, parent_id, status, payload, error, summary,
          attempt, started_at, finished_at)
        SELECT seq, id, run_id, action, parent_id, status, payload, error, summary,
          attempt, started_at, finished_at FROM events;
      DROP TABLE events;
      ALTER TABLE events_v5 RENAME TO events;
      CREATE INDEX events_by_run ON events (run_id, seq);

      CREATE TABLE work_items_v5 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        story TEXT NOT NULL,
        action TEXT NOT NULL,
        parent_event_id TEXT,
        input TEXT NOT NULL,
        lineage TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        available_at INTEGER NOT NULL,
        claimed_by TEXT,
        lease_until INTEGER,
        retry_reason TEXT
      );
      INSERT INTO work_items_v5 (seq, id, run_id, story, action, parent_event_id, input, lineage,
          attempt, available_at, claimed_by, lease_until, retry_reason)
        SELECT seq, id, run_id, story, action, parent_event_id, input, lineage,
          attempt, available_at, claimed_by, lease_until, retry_reason FROM work_items;
      DROP TABLE work_items;
      ALTER TABLE work_items_v5 RENAME TO work_items;
      CREATE UNIQUE INDEX work_items_by_run ON work_items (run_id, id);
      CREATE INDEX work_items_unclaimed ON work_items (available_at, seq) WHERE lease_until IS NULL;
      CREATE INDEX work_items_by_lease ON work_items (lease_until) WHERE lease_until IS NOT NULL;
      DELETE FROM sqlite_sequence WHERE name IN ('events', 'work_items');

      CREATE TABLE attempts_v5 (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        item_id TEXT NOT NULL,
        action TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        worker_id TEXT,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        outcome TEXT,
        UNIQUE (run_id, item_id, attempt)
      );
      INSERT INTO attempts_v5 (rowid, run_id, item_id, action, attempt, worker_id, started_at,
          finished_at, outcome)
        SELECT rowid, run_id, item_id, action, attempt, worker_id, started_at,
          finished_at, outcome FROM attempts;
      DROP TABLE attempts;
      ALTER TABLE attempts_v5 RENAME TO attempts;

      DROP INDEX runs_by_status;
      CREATE INDEX runs_unsucceeded ON runs (status, created_at) WHERE status != 'succeeded';
    `,
  },
];

/** Error raised when a database was written by a newer engine than this one. */
export class SchemaTooNewError extends Error {
  constructor(file: string, found: number, supported: number) {
    super(
      `${file}: database schema version ${found} is newer than the newest this engine ` +
        `supports (${supported}). Upgrade story-engine, or pass --db with another file.`,
    );
    this.name = 'SchemaTooNewError';
  }
}

/** Reads the applied schema version, 0 for a new database. */
export function schemaVersion(db: Database): number {
  const table = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    .get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as {
    version: number | null;
  };
  return row.version ?? 0;
}

/**
 * Applies the steps the database lacks, each in its own IMMEDIATE transaction so two
 * processes opening one file do not both apply a step. Returns the versions before and after.
 */
export function migrate(
  db: Database,
  file: string,
  migrations: readonly Migration[] = sqliteMigrations,
): { from: number; to: number } {
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (' +
      'version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  const from = schemaVersion(db);
  if (from > latest) throw new SchemaTooNewError(file, from, latest);

  const record = db.prepare(
    'INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)',
  );
  for (const step of migrations) {
    const apply = db.transaction(() => {
      // Another process may have applied this step since the version was read above.
      if (schemaVersion(db) >= step.version) return;
      db.exec(step.sql);
      record.run(step.version, step.description, Date.now());
    });
    apply.immediate();
  }
  const to = schemaVersion(db);
  // A step that rebuilds a table writes all its rows to the WAL, and the WAL file keeps that
  // size while the store stays open unless a checkpoint truncates it. Without WAL it is a no-op.
  if (to > from) db.pragma('wal_checkpoint(TRUNCATE)');
  return { from, to };
}
