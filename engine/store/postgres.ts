/**
 * PostgreSQL store: several engine processes share one database and claim work with
 * `FOR UPDATE SKIP LOCKED`. A claim is a lease: when a worker dies, its items become claimable
 * again once `lease_until` passes.
 *
 * Leases and availability are compared against the database clock, so workers on machines with
 * skewed clocks agree on when a lease expires. Record timestamps (createdAt, event timings) come
 * from the engine process, like in the other stores.
 */
import { newId } from '../ids';
import { Pool, type PoolClient, type PoolConfig } from 'pg';
import type { EventRecord, Json, RunRecord, RunStatus, StateChange } from '../types';
import { migrate } from './migrations/postgres';
import type {
  AttemptRecord,
  CompleteResult,
  Completion,
  NewEvent,
  NewRun,
  NewWorkItem,
  RunFilter,
  Store,
  WorkItem,
} from './types';

export interface PostgresStoreOptions {
  /** `postgres://user@host:port/database`; libpq environment variables fill what it leaves out. */
  connectionString?: string;
  /** Schema that contains the tables, created when missing (default `public`). */
  schema?: string;
  /** Maximum number of connections this process opens (default 10). */
  poolSize?: number;
  /** Extra settings for the node-postgres pool. */
  pool?: PoolConfig;
  /** Receives errors of idle connections (the database restarted, the network dropped). */
  onPoolError?: (error: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Database clock in epoch milliseconds, the unit of every *_at column. */
const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** Rows per INSERT, which keeps the bind parameters far below PostgreSQL's 65535. */
const INSERT_BATCH = 500;

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly schema: string;
  private pool: Pool | undefined;
  private readonly runs: string;
  private readonly events: string;
  private readonly items: string;
  private readonly attempts: string;
  private readonly state: string;

  constructor(private readonly options: PostgresStoreOptions = {}) {
    const schema = options.schema ?? 'public';
    if (!SCHEMA_NAME.test(schema)) {
      throw new Error(
        `invalid PostgreSQL schema name "${schema}": use lower-case letters, digits and ` +
          'underscores, starting with a letter or underscore, at most 63 characters',
      );
    }
    this.schema = schema;
    this.runs = `"${schema}".runs`;
    this.events = `"${schema}".events`;
    this.items = `"${schema}".work_items`;
    this.attempts = `"${schema}".attempts`;
    this.state = `"${schema}".action_state`;
  }

  async open(): Promise<void> {
    if (this.pool) return;
    const connectionString = this.options.connectionString ?? this.options.pool?.connectionString;
    const pool = new Pool({
      // Without a timeout, a server that drops packets would hang the start for minutes.
      connectionTimeoutMillis: 10_000,
      ...this.options.pool,
      connectionString,
      max: this.options.poolSize ?? this.options.pool?.max ?? 10,
    });
    // Without a listener, an idle connection that drops would crash the process.
    pool.on('error', (error) => this.options.onPoolError?.(error));
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      await pool.end();
      const target = connectionString ? hidePassword(connectionString) : 'the PG* defaults';
      throw new Error(
        `connecting to PostgreSQL at ${target} failed: ${(error as Error).message}; check the ` +
          'URL of --db, the PG* environment variables and that the server accepts connections',
        { cause: error },
      );
    }
    try {
      await migrate(client, this.schema);
    } catch (error) {
      client.release();
      await pool.end();
      throw error;
    }
    client.release();
    this.pool = pool;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end();
  }

  async createRun(run: NewRun, first: NewWorkItem): Promise<RunRecord> {
    const record: RunRecord = {
      id: run.id ?? newId(),
      story: run.story,
      storyName: run.storyName,
      status: 'running',
      createdAt: Date.now(),
      finishedAt: null,
      error: null,
    };
    // One statement, so the run and its first item commit together without a transaction block.
    await this.db().query(
      `WITH run AS (
         INSERT INTO ${this.runs} (id, story, story_name, status, created_at)
         VALUES ($1, $2, $3, 'running', $4)
       )
       INSERT INTO ${this.items}
         (id, run_id, story, action, parent_event_id, input, lineage, available_at)
       VALUES ($5, $1, $6, $7, $8, $9::json, $10::json, $11)`,
      [
        record.id,
        record.story,
        record.storyName,
        record.createdAt,
        first.id ?? newId(),
        first.story,
        first.action,
        first.parentEventId,
        JSON.stringify(first.input),
        JSON.stringify(first.lineage),
        first.availableAt,
      ],
    );
    return record;
  }

  async claim(workerId: string, max: number, leaseMs: number): Promise<WorkItem[]> {
    if (max <= 0) return [];
    // An attempt still open when its item is claimed again was cut off by a crash or a lost
    // lease, so the same statement closes it as interrupted.
    const result = await this.db().query<WorkItemRow>(
      `WITH picked AS (
         SELECT id FROM ${this.items}
         WHERE available_at <= ${NOW_MS} AND (lease_until IS NULL OR lease_until <= ${NOW_MS})
         ORDER BY available_at, seq
         LIMIT $2
         FOR UPDATE SKIP LOCKED
       ),
       claimed AS (
         UPDATE ${this.items} AS item
         SET claimed_by = $1, lease_until = ${NOW_MS} + $3
         FROM picked WHERE item.id = picked.id
         RETURNING item.*
       ),
       interrupted AS (
         UPDATE ${this.attempts} AS attempt
         SET finished_at = $4, outcome = 'interrupted'
         FROM claimed
         WHERE attempt.item_id = claimed.id AND attempt.attempt = claimed.attempt
           AND attempt.finished_at IS NULL
       )
       SELECT * FROM claimed`,
      [workerId, max, Math.ceil(leaseMs), Date.now()],
    );
    // RETURNING has no order, so restore the claim order.
    const rows = result.rows.sort(
      (a, b) =>
        Number(a.available_at) - Number(b.available_at) || Number(a.seq) - Number(b.seq),
    );
    return rows.map(toWorkItem);
  }

  async recordAttempt(item: WorkItem): Promise<void> {
    await this.db().query(
      `WITH item AS (
         UPDATE ${this.items} SET attempt = $2 WHERE id = $1
         RETURNING run_id, id, action, claimed_by
       )
       INSERT INTO ${this.attempts} (run_id, item_id, action, attempt, worker_id, started_at)
       SELECT run_id, id, action, $2, claimed_by, $3 FROM item
       ON CONFLICT (item_id, attempt) DO UPDATE
       SET worker_id = excluded.worker_id, started_at = excluded.started_at,
           finished_at = NULL, outcome = NULL`,
      [item.id, item.attempt, Date.now()],
    );
  }

  async complete(item: WorkItem, completion: Completion): Promise<CompleteResult> {
    if (completion.retryAt === undefined) {
      return this.transaction((client) => this.finishItem(client, item, completion));
    }
    const reason = completion.retryReason ?? null;
    await this.db().query(
      `WITH item AS (
         UPDATE ${this.items}
         SET available_at = $2, retry_reason = $3, claimed_by = NULL, lease_until = NULL
         WHERE id = $1
         RETURNING id, attempt
       )
       UPDATE ${this.attempts} AS attempt SET finished_at = $4, outcome = $5
       FROM item
       WHERE attempt.item_id = item.id AND attempt.attempt = item.attempt
         AND attempt.finished_at IS NULL`,
      [item.id, completion.retryAt, reason, Date.now(), `retry: ${reason ?? 'no reason given'}`],
    );
    return {};
  }

  async release(items: WorkItem[]): Promise<void> {
    if (items.length === 0) return;
    await this.db().query(
      `WITH released AS (
         UPDATE ${this.items} SET claimed_by = NULL, lease_until = NULL
         WHERE id = ANY($1::text[])
         RETURNING id
       )
       UPDATE ${this.attempts} AS attempt SET finished_at = $2, outcome = 'released'
       FROM released
       WHERE attempt.item_id = released.id AND attempt.finished_at IS NULL`,
      [items.map((item) => item.id), Date.now()],
    );
  }

  async pendingCount(): Promise<number> {
    const result = await this.db().query<{ count: string }>(
      `SELECT count(*) AS count FROM ${this.items}`,
    );
    return Number(result.rows[0].count);
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const result = await this.db().query<RunRow>(`SELECT * FROM ${this.runs} WHERE id = $1`, [id]);
    return result.rows.length > 0 ? toRunRecord(result.rows[0]) : undefined;
  }

  async listRuns(filter: RunFilter): Promise<RunRecord[]> {
    const conditions: string[] = [];
    const values: unknown[] = [];
    if (filter.story !== undefined) {
      values.push(filter.story);
      conditions.push(`story = $${values.length}`);
    }
    if (filter.status !== undefined) {
      values.push(filter.status);
      conditions.push(`status = $${values.length}`);
    }
    if (filter.since !== undefined) {
      values.push(filter.since);
      conditions.push(`created_at >= $${values.length}`);
    }
    let sql = `SELECT * FROM ${this.runs}`;
    if (conditions.length > 0) sql += ` WHERE ${conditions.join(' AND ')}`;
    sql += ' ORDER BY created_at DESC, id';
    if (filter.limit !== undefined) {
      values.push(filter.limit);
      sql += ` LIMIT $${values.length}`;
    }
    const result = await this.db().query<RunRow>(sql, values);
    return result.rows.map(toRunRecord);
  }

  async listEvents(runId: string): Promise<EventRecord[]> {
    const result = await this.db().query<EventRow>(
      `SELECT * FROM ${this.events} WHERE run_id = $1 ORDER BY seq`,
      [runId],
    );
    return result.rows.map(toEventRecord);
  }

  /** Lists every recorded attempt of a run's work items, oldest first. */
  async listAttempts(runId: string): Promise<AttemptRecord[]> {
    const result = await this.db().query<AttemptRow>(
      `SELECT * FROM ${this.attempts} WHERE run_id = $1 ORDER BY started_at, attempt`,
      [runId],
    );
    return result.rows.map(toAttemptRecord);
  }

  /** Deletes finished runs created before `before` (epoch ms) with their trails. */
  async prune(before: number): Promise<number> {
    const result = await this.db().query(
      `DELETE FROM ${this.runs} WHERE created_at < $1 AND status <> 'running'`,
      [before],
    );
    return result.rowCount ?? 0;
  }

  async listClaimants(): Promise<string[]> {
    const result = await this.db().query<{ claimed_by: string }>(
      `SELECT DISTINCT claimed_by FROM ${this.items}
       WHERE claimed_by IS NOT NULL AND lease_until > ${NOW_MS}`,
    );
    return result.rows.map((row) => row.claimed_by);
  }

  async renewLeases(workerId: string, itemIds: string[], leaseMs: number): Promise<number> {
    if (itemIds.length === 0) return 0;
    const result = await this.db().query(
      `UPDATE ${this.items} SET lease_until = ${NOW_MS} + $3
       WHERE id = ANY($2::text[]) AND claimed_by = $1`,
      [workerId, itemIds, Math.ceil(leaseMs)],
    );
    return result.rowCount ?? 0;
  }

  async releaseClaimsOf(workerIds: string[]): Promise<number> {
    if (workerIds.length === 0) return 0;
    const result = await this.db().query(
      `WITH released AS (
         UPDATE ${this.items} SET claimed_by = NULL, lease_until = NULL
         WHERE claimed_by = ANY($1::text[])
         RETURNING id, attempt
       ),
       interrupted AS (
         UPDATE ${this.attempts} AS attempt SET finished_at = $2, outcome = 'interrupted'
         FROM released
         WHERE attempt.item_id = released.id AND attempt.finished_at IS NULL
       )
       SELECT count(*) AS count FROM released`,
      [workerIds, Date.now()],
    );
    return Number((result.rows[0] as { count: string }).count);
  }

  /**
   * Records the outcome of an item and, when it was the run's last pending item, the run's
   * status. Locking the run row first serialises the completions of one run, so when two
   * workers finish the last two items at once, the second reads the first's delete and exactly
   * one of them closes the run. NO KEY UPDATE still lets the foreign keys of new rows share it.
   */
  private async finishItem(
    client: PoolClient,
    item: WorkItem,
    completion: Completion,
  ): Promise<CompleteResult> {
    await client.query(`SELECT 1 FROM ${this.runs} WHERE id = $1 FOR NO KEY UPDATE`, [item.runId]);
    const deleted = await client.query<{ attempt: number }>(
      `DELETE FROM ${this.items} WHERE id = $1 RETURNING attempt`,
      [item.id],
    );
    // Another worker completed this item after our lease expired, so its outcome is kept.
    if (deleted.rows.length === 0) return {};

    const now = Date.now();
    // Events of actions run inline after this one are not part of its attempt.
    const own = completion.events.filter((event) => event.action === item.action);
    const outcome = own.map((event) => event.status).join(', ') || 'no events';
    await client.query(
      `UPDATE ${this.attempts} SET finished_at = $3, outcome = $4
       WHERE item_id = $1 AND attempt = $2 AND finished_at IS NULL`,
      [item.id, deleted.rows[0].attempt, now, outcome],
    );
    await this.insertEvents(client, item.runId, completion.events);
    await this.insertItems(client, completion.children);
    if (completion.cancel && completion.cancel.length > 0) {
      await client.query(
        `DELETE FROM ${this.items} WHERE id = ANY($1::text[]) AND run_id = $2 AND claimed_by IS NULL`,
        [completion.cancel, item.runId],
      );
    }
    const left = await client.query(`SELECT 1 FROM ${this.items} WHERE run_id = $1 LIMIT 1`, [
      item.runId,
    ]);
    if (left.rows.length > 0) return {};

    const failure = await client.query<{ error: string | null }>(
      `SELECT error FROM ${this.events} WHERE run_id = $1 AND status = 'failed'
       ORDER BY seq LIMIT 1`,
      [item.runId],
    );
    const status: RunStatus = failure.rows.length > 0 ? 'failed' : 'succeeded';
    const error = failure.rows.length > 0 ? failure.rows[0].error : null;
    const finished = await client.query(
      `UPDATE ${this.runs} SET status = $2, finished_at = $3, error = $4
       WHERE id = $1 AND status = 'running'`,
      [item.runId, status, now, error],
    );
    return finished.rowCount === 1 ? { runFinished: status } : {};
  }

  private async insertEvents(client: PoolClient, runId: string, events: NewEvent[]) {
    for (let start = 0; start < events.length; start += INSERT_BATCH) {
      const values: unknown[] = [];
      const rows = events.slice(start, start + INSERT_BATCH).map((event) => {
        const first = values.length;
        values.push(
          event.id,
          runId,
          event.action,
          event.parentId,
          event.status,
          JSON.stringify(event.payload ?? null),
          event.error,
          event.summary,
          event.attempt,
          event.startedAt,
          event.finishedAt,
        );
        return placeholders(first, 11, { 6: '::json' });
      });
      await client.query(
        `INSERT INTO ${this.events} (id, run_id, action, parent_id, status, payload, error,
           summary, attempt, started_at, finished_at)
         VALUES ${rows.join(', ')}`,
        values,
      );
    }
  }

  private async insertItems(client: PoolClient, items: NewWorkItem[]) {
    for (let start = 0; start < items.length; start += INSERT_BATCH) {
      const values: unknown[] = [];
      const rows = items.slice(start, start + INSERT_BATCH).map((item) => {
        const first = values.length;
        values.push(
          item.id ?? newId(),
          item.runId,
          item.story,
          item.action,
          item.parentEventId,
          JSON.stringify(item.input),
          JSON.stringify(item.lineage),
          item.availableAt,
        );
        return placeholders(first, 8, { 6: '::json', 7: '::json' });
      });
      await client.query(
        `INSERT INTO ${this.items}
           (id, run_id, story, action, parent_event_id, input, lineage, available_at)
         VALUES ${rows.join(', ')}`,
        values,
      );
    }
  }

  async updateState(
    scope: string,
    key: string,
    change: (current: Json | undefined) => StateChange,
  ): Promise<void> {
    await this.transaction(async (client) => {
      // The empty row makes concurrent first updates of a key wait on one row lock.
      await client.query(
        `INSERT INTO ${this.state} (scope, key) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [scope, key],
      );
      const row = await client.query<{ value: string | null; expires_at: string | null }>(
        `SELECT value, expires_at FROM ${this.state} WHERE scope = $1 AND key = $2 FOR UPDATE`,
        [scope, key],
      );
      const now = Date.now();
      const stored = row.rows[0];
      const live = stored?.value != null && (stored.expires_at === null || Number(stored.expires_at) > now);
      const next = change(live ? (JSON.parse(stored.value as string) as Json) : undefined);
      if (next.value === undefined) {
        await client.query(`DELETE FROM ${this.state} WHERE scope = $1 AND key = $2`, [scope, key]);
        return;
      }
      const expiresAt = next.ttlMs === undefined ? null : now + next.ttlMs;
      await client.query(
        `UPDATE ${this.state} SET value = $3, expires_at = $4 WHERE scope = $1 AND key = $2`,
        [scope, key, JSON.stringify(next.value), expiresAt],
      );
    });
  }

  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.db().connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private db(): Pool {
    if (!this.pool) throw new Error('PostgreSQL store is not open: call open() first');
    return this.pool;
  }
}

/** Replaces the password of a connection URL with `***`, for messages. */
function hidePassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/** `($n, $n+1::json, ...)` for one row of `count` values after the first `offset` values. */
function placeholders(offset: number, count: number, casts: Record<number, string>): string {
  const parts: string[] = [];
  for (let column = 1; column <= count; column++) {
    parts.push(`$${offset + column}${casts[column] ?? ''}`);
  }
  return `(${parts.join(', ')})`;
}

// node-postgres returns bigint columns as strings, so the mappers convert them.
interface RunRow {
  id: string;
  story: string;
  story_name: string;
  status: RunStatus;
  created_at: string;
  finished_at: string | null;
  error: string | null;
}

interface EventRow {
  id: string;
  run_id: string;
  action: string;
  parent_id: string | null;
  status: EventRecord['status'];
  payload: Json;
  error: string | null;
  summary: string | null;
  attempt: number;
  started_at: string;
  finished_at: string;
}

interface WorkItemRow {
  seq: string;
  id: string;
  run_id: string;
  story: string;
  action: string;
  parent_event_id: string | null;
  input: Json;
  lineage: Record<string, Json>;
  attempt: number;
  available_at: string;
}

interface AttemptRow {
  run_id: string;
  item_id: string;
  action: string;
  attempt: number;
  worker_id: string | null;
  started_at: string;
  finished_at: string | null;
  outcome: string | null;
}

function toRunRecord(row: RunRow): RunRecord {
  return {
    id: row.id,
    story: row.story,
    storyName: row.story_name,
    status: row.status,
    createdAt: Number(row.created_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    error: row.error,
  };
}

function toEventRecord(row: EventRow): EventRecord {
  return {
    id: row.id,
    runId: row.run_id,
    action: row.action,
    parentId: row.parent_id,
    status: row.status,
    payload: row.payload,
    error: row.error,
    summary: row.summary,
    attempt: row.attempt,
    startedAt: Number(row.started_at),
    finishedAt: Number(row.finished_at),
  };
}

function toWorkItem(row: WorkItemRow): WorkItem {
  return {
    id: row.id,
    runId: row.run_id,
    story: row.story,
    action: row.action,
    parentEventId: row.parent_event_id,
    input: row.input,
    lineage: row.lineage,
    attempt: row.attempt,
    availableAt: Number(row.available_at),
  };
}

function toAttemptRecord(row: AttemptRow): AttemptRecord {
  return {
    runId: row.run_id,
    itemId: row.item_id,
    action: row.action,
    attempt: row.attempt,
    workerId: row.worker_id,
    startedAt: Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    outcome: row.outcome,
  };
}
