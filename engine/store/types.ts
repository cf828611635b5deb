/**
 * The store keeps runs, their events and the pending work. Every backend (memory, SQLite,
 * PostgreSQL) implements this interface and passes the same contract tests.
 */
import { newId } from '../ids';
import type { EventRecord, Json, RunRecord, RunStatus, StateChange } from '../types';

/** One pending execution: action `action` of run `runId` for one incoming event. */
export interface WorkItem {
  id: string;
  runId: string;
  /** Story path, which identifies the story among those loaded. */
  story: string;
  action: string;
  /** Event that caused this work, null for the webhook's own item. */
  parentEventId: string | null;
  /** Payload of the incoming event (for the webhook: the request). */
  input: Json;
  /** Upstream events along this branch, by action name. */
  lineage: Record<string, Json>;
  /** Attempts recorded so far, including a claimed one in progress. */
  attempt: number;
  /** Epoch ms before which the item must not be claimed. */
  availableAt: number;
}

export type NewWorkItem = Omit<WorkItem, 'id' | 'attempt'> & { id?: string };

/**
 * Returns the work item for `item`, with a new id unless it has one. Fields are listed, not
 * spread, because new keys after a spread are slow in V8 (see withEntry in completion.ts).
 */
export function toWorkItem(item: NewWorkItem, attempt: number): WorkItem {
  return {
    id: item.id ?? newId(),
    runId: item.runId,
    story: item.story,
    action: item.action,
    parentEventId: item.parentEventId,
    input: item.input,
    lineage: item.lineage,
    attempt,
    availableAt: item.availableAt,
  };
}

export interface NewRun {
  id?: string;
  story: string;
  storyName: string;
}

export type NewEvent = Omit<EventRecord, 'runId'>;

/** Changes that finishing a work item makes, applied atomically. */
export interface Completion {
  /** Events this attempt produced (one per emitted payload, or one skipped or failed). */
  events: NewEvent[];
  /** Work created for downstream actions. */
  children: NewWorkItem[];
  /** Set instead of events to schedule another attempt of the same item. */
  retryAt?: number;
  /** Reason for the retry, kept on the item for the trail. */
  retryReason?: string;
  /** Ids of unclaimed items of the same run to delete (timers that need not fire). */
  cancel?: string[];
}

export interface CompleteResult {
  /** Set when this completion left the run with no pending work. */
  runFinished?: RunStatus;
}

export interface RunFilter {
  story?: string;
  status?: RunStatus;
  since?: number;
  limit?: number;
}

/**
 * One recorded attempt of a work item. `outcome` is null while the attempt runs, then an
 * event status, `retry: <reason>`, `interrupted` (claimed again after a crash or a lost
 * lease) or `released` (given back at a graceful stop).
 */
export interface AttemptRecord {
  runId: string;
  itemId: string;
  action: string;
  attempt: number;
  workerId: string | null;
  startedAt: number;
  finishedAt: number | null;
  outcome: string | null;
}

export interface Store {
  readonly kind: string;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Persists a run and its first work item; resolves only once both are durable. */
  createRun(run: NewRun, first: NewWorkItem): Promise<RunRecord>;
  /** Claims up to `max` available items for `leaseMs`; expired claims can be claimed again. */
  claim(workerId: string, max: number, leaseMs: number): Promise<WorkItem[]>;
  /** Records that an attempt starts, before the action has any side effect. */
  recordAttempt(item: WorkItem): Promise<void>;
  complete(item: WorkItem, completion: Completion): Promise<CompleteResult>;
  /** Gives claimed items back unprocessed (graceful stop). */
  release(items: WorkItem[]): Promise<void>;
  pendingCount(): Promise<number>;
  getRun(id: string): Promise<RunRecord | undefined>;
  listRuns(filter: RunFilter): Promise<RunRecord[]>;
  listEvents(runId: string): Promise<EventRecord[]>;
  /** Lists a run's recorded attempts, oldest first (durable stores only). */
  listAttempts?(runId: string): Promise<AttemptRecord[]>;
  /** Deletes finished runs created before `before` (epoch ms) with their trails. */
  prune?(before: number): Promise<number>;
  /** Lists the worker ids that hold unexpired claims. */
  listClaimants?(): Promise<string[]>;
  /**
   * Gives back every claim of the given workers, which must be known to be gone (a crashed
   * process), and marks their open attempts interrupted. Returns the number of items.
   */
  releaseClaimsOf?(workerIds: string[]): Promise<number>;
  /**
   * Extends to `leaseMs` from now the leases of those items that `workerId` still holds, so an
   * action that runs longer than one lease keeps its item. Returns the number extended.
   */
  renewLeases?(workerId: string, itemIds: string[], leaseMs: number): Promise<number>;
  /**
   * Replaces one action-state value atomically (see ActionState). `scope` names the story and
   * action. Stores without it make the runner keep state in memory only.
   */
  updateState?(
    scope: string,
    key: string,
    change: (current: Json | undefined) => StateChange,
  ): Promise<void>;
}
