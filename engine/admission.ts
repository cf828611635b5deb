/**
 * Bounds the work an engine process takes on. While the store holds `max` or more pending
 * work items, new webhook requests are rejected with TooBusyError (HTTP 429 with Retry-After),
 * so memory and latency stay bounded and the sender retries later instead of timing out.
 */
import { withoutStack } from './errors';

/** Default of `engine run --max-pending`: under a second of work with SQLite in the benchmark. */
export const DEFAULT_MAX_PENDING = 1000;

/** Seconds a rejected sender is asked to wait before it retries. */
export const RETRY_AFTER_SECONDS = 1;

/** Interval at which the estimate is reset from the store, which picks up other processes' work. */
const RESYNC_MS = 1000;

export class TooBusyError extends Error {
  constructor(
    readonly pending: number,
    readonly max: number,
    readonly retryAfterSeconds: number,
  ) {
    super(`${pending} work items are pending, at or above the limit of ${max}; retry in ${retryAfterSeconds} s`);
    this.name = 'TooBusyError';
  }
}

/**
 * Estimates the store's pending work items without a query per request: it counts what this
 * process adds and removes, and resets from `countPending` once per RESYNC_MS. With one
 * process the estimate is exact; with several sharing a store it can lag by up to RESYNC_MS.
 */
export class PendingLimit {
  private estimate = 0;
  private syncedAt = -Infinity;
  private syncing: Promise<void> | undefined;

  constructor(
    readonly max: number,
    private readonly countPending: () => Promise<number>,
  ) {
    if (!Number.isInteger(max) || max < 1) {
      throw new Error(`invalid pending-work limit ${max}: use a whole number of at least 1`);
    }
  }

  /** Reserves room for one new work item, or throws TooBusyError when the limit is reached. */
  async admit(): Promise<void> {
    if (Date.now() - this.syncedAt >= RESYNC_MS) await this.sync();
    if (this.estimate >= this.max) throw this.tooBusy();
    this.estimate++;
  }

  /**
   * Throws TooBusyError, without a store query, when a count younger than RESYNC_MS puts the
   * estimate at the limit, so a sender can be turned away before its body is read. An older
   * estimate passes, because only admit() counts again: work that other processes finished
   * would otherwise keep every request out. admit() still decides.
   */
  checkRoom(): void {
    if (this.estimate >= this.max && Date.now() - this.syncedAt < RESYNC_MS) throw this.tooBusy();
  }

  /** Records work items that this process added (positive) or finished (negative). */
  adjust(delta: number): void {
    this.estimate = Math.max(0, this.estimate + delta);
  }

  private tooBusy(): TooBusyError {
    return withoutStack(() => new TooBusyError(this.estimate, this.max, RETRY_AFTER_SECONDS));
  }

  private sync(): Promise<void> {
    // Requests that arrive while a count is running share it, so a burst costs one query.
    this.syncing ??= this.countPending()
      .then((count) => {
        this.estimate = count;
        this.syncedAt = Date.now();
      })
      .finally(() => {
        this.syncing = undefined;
      });
    return this.syncing;
  }
}
