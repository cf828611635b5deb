/**
 * In-memory store: the default for one-shot runs and tests. It keeps nothing across a
 * restart, so `engine run` uses a durable store when the process must not lose work.
 */
import { newId } from '../ids';
import type { EventRecord, Json, RunRecord, StateChange } from '../types';
import {
  toWorkItem,
  type CompleteResult,
  type Completion,
  type NewRun,
  type NewWorkItem,
  type RunFilter,
  type Store,
  type WorkItem,
} from './types';

interface Claim {
  workerId: string;
  until: number;
}

/**
 * Default number of finished runs kept. It bounds the memory of a long-lived process (a Fleet
 * run with its events takes roughly 30 KB) and still keeps recent runs to inspect.
 */
export const DEFAULT_MAX_FINISHED_RUNS = 1_000;

export interface MemoryStoreOptions {
  /**
   * Finished runs kept with their trails. When one more finishes, the run that finished first
   * is dropped. Runs still in progress are always kept.
   */
  maxFinishedRuns?: number;
}

export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly runs = new Map<string, RunRecord>();
  private readonly events = new Map<string, EventRecord[]>();
  private readonly items = new Map<string, WorkItem>();
  private readonly claims = new Map<string, Claim>();
  private readonly pendingByRun = new Map<string, number>();
  private readonly failedRuns = new Set<string>();
  private readonly state = new Map<string, { value: Json; expiresAt: number }>();
  /** Ids of finished runs in the order they finished (a Set keeps insertion order). */
  private readonly finished = new Set<string>();
  private readonly maxFinishedRuns: number;

  constructor(options: MemoryStoreOptions = {}) {
    const max = options.maxFinishedRuns ?? DEFAULT_MAX_FINISHED_RUNS;
    if (!Number.isInteger(max) || max < 0) {
      throw new Error(`invalid maxFinishedRuns ${String(max)}: expected a whole number of runs, 0 or more`);
    }
    this.maxFinishedRuns = max;
  }

  async open(): Promise<void> {}

  async close(): Promise<void> {}

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
    this.runs.set(record.id, record);
    this.events.set(record.id, []);
    this.addItem({ ...first, runId: record.id });
    return { ...record };
  }

  async claim(workerId: string, max: number, leaseMs: number): Promise<WorkItem[]> {
    const now = Date.now();
    const claimed: WorkItem[] = [];
    for (const item of this.items.values()) {
      if (claimed.length >= max) break;
      if (item.availableAt > now) continue;
      const claim = this.claims.get(item.id);
      if (claim && claim.until > now) continue;
      this.claims.set(item.id, { workerId, until: now + leaseMs });
      claimed.push({ ...item });
    }
    return claimed;
  }

  async recordAttempt(item: WorkItem): Promise<void> {
    const stored = this.items.get(item.id);
    if (stored) stored.attempt = item.attempt;
  }

  async complete(item: WorkItem, completion: Completion): Promise<CompleteResult> {
    const stored = this.items.get(item.id);
    if (!stored) return {};
    this.claims.delete(item.id);
    if (completion.retryAt !== undefined) {
      stored.availableAt = completion.retryAt;
      return {};
    }

    const trail = this.events.get(item.runId) ?? [];
    for (const event of completion.events) {
      trail.push(Object.assign({ runId: item.runId }, event));
      if (event.status === 'failed') this.failedRuns.add(item.runId);
    }
    for (const child of completion.children) this.addItem(child);
    this.items.delete(item.id);
    let left = (this.pendingByRun.get(item.runId) ?? 1) - 1;
    for (const id of completion.cancel ?? []) {
      const cancelled = this.items.get(id);
      if (!cancelled || cancelled.runId !== item.runId || this.claims.has(id)) continue;
      this.items.delete(id);
      left -= 1;
    }
    this.pendingByRun.set(item.runId, left);
    if (left > 0) return {};

    this.pendingByRun.delete(item.runId);
    const run = this.runs.get(item.runId);
    if (!run) return {};
    const failed = this.failedRuns.delete(item.runId);
    run.status = failed ? 'failed' : 'succeeded';
    run.finishedAt = Date.now();
    run.error = failed ? (trail.find((event) => event.status === 'failed')?.error ?? null) : null;
    this.finished.add(run.id);
    this.dropOldestFinished();
    return { runFinished: run.status };
  }

  async release(items: WorkItem[]): Promise<void> {
    for (const item of items) this.claims.delete(item.id);
  }

  async pendingCount(): Promise<number> {
    return this.items.size;
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const run = this.runs.get(id);
    return run ? { ...run } : undefined;
  }

  async listRuns(filter: RunFilter): Promise<RunRecord[]> {
    const runs = [...this.runs.values()].filter(
      (run) =>
        (filter.story === undefined || run.story === filter.story) &&
        (filter.status === undefined || run.status === filter.status) &&
        (filter.since === undefined || run.createdAt >= filter.since),
    );
    runs.sort((a, b) => b.createdAt - a.createdAt);
    return runs.slice(0, filter.limit ?? runs.length).map((run) => ({ ...run }));
  }

  async listEvents(runId: string): Promise<EventRecord[]> {
    return (this.events.get(runId) ?? []).map((event) => ({ ...event }));
  }

  async updateState(
    scope: string,
    key: string,
    change: (current: Json | undefined) => StateChange,
  ): Promise<void> {
    const id = `${scope}\u0000${key}`;
    const stored = this.state.get(id);
    const current = stored && stored.expiresAt > Date.now() ? stored.value : undefined;
    const next = change(current);
    if (next.value === undefined) this.state.delete(id);
    else this.state.set(id, { value: next.value, expiresAt: Date.now() + (next.ttlMs ?? Infinity) });
  }

  async prune(before: number): Promise<number> {
    let deleted = 0;
    for (const id of this.finished) {
      const run = this.runs.get(id);
      if (run !== undefined && run.createdAt >= before) continue;
      this.forget(id);
      deleted += 1;
    }
    return deleted;
  }

  private dropOldestFinished(): void {
    for (const id of this.finished) {
      if (this.finished.size <= this.maxFinishedRuns) return;
      this.forget(id);
    }
  }

  private forget(runId: string): void {
    this.finished.delete(runId);
    this.runs.delete(runId);
    this.events.delete(runId);
  }

  private addItem(item: NewWorkItem): void {
    const full = toWorkItem(item, 0);
    this.items.set(full.id, full);
    this.pendingByRun.set(full.runId, (this.pendingByRun.get(full.runId) ?? 0) + 1);
  }
}
