/**
 * The runner: accepts webhook requests as new runs in the store and executes pending work.
 * Each work item runs one action for one incoming event. What the action emits becomes
 * events in the store and work items for the actions after it, in one atomic step.
 */
import { setMaxListeners } from 'node:events';
import { newId } from './ids';
import type { Logger } from 'pino';
import { DEFAULT_MAX_PENDING, PendingLimit } from './admission';
import { resolveStoryValues, StoryConfigError, type StoryValues } from './config';
import { completionOf, copyRecord, failedEvent, isObject, outcomeOf, timerOf } from './completion';
import { defaultTransport } from './http';
import type { EngineMetrics } from './metrics';
import { resolveWebhookAuth, type WebhookAuthConfig } from './security/webhook-auth';
import { makeRedactor, type Redact } from './redact';
import { planRetry } from './retry';
import { newWorkerId, releaseGoneWorkers } from './workers';
import { toWorkItem, type Completion, type NewWorkItem, type Store, type WorkItem } from './store/types';
import { MemoryStore } from './store/memory';
import {
  ActionError,
  type ActionInput,
  type ActionState,
  type ActionType,
  type EvalContext,
  type HttpTransport,
  type Json,
  type LoadedAction,
  type LoadedStory,
  type RunRecord,
  type RunStatus,
  type WebhookRequest,
  type WebhookRoute,
} from './types';

export interface RunnerOptions {
  stories: LoadedStory[];
  store: Store;
  logger: Logger;
  /** Source of credentials and resources; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Work items executed at once. */
  concurrency?: number;
  /** How long a claim lasts before another worker may take the item. */
  leaseMs?: number;
  /** How often an idle worker looks for work that other processes or timers made ready. */
  pollMs?: number;
  http?: HttpTransport;
  workerId?: string;
  /** Pending work items at which accept() starts to throw TooBusyError; default DEFAULT_MAX_PENDING. */
  maxPending?: number;
  /** Receives action outcomes, durations and finished runs. */
  metrics?: EngineMetrics;
}

/** Health shown by /healthz: whether the store responded and this process's work loop runs. */
export interface RunnerHealth {
  healthy: boolean;
  store: 'ok' | 'unreachable';
  /** Store error when unreachable, for operators. */
  storeError?: string;
  worker: 'running' | 'stalled' | 'stopped';
  busy: number;
}

/** A webhook that the server hosts, with the story and action it belongs to. */
export interface HostedWebhook {
  story: LoadedStory;
  action: LoadedAction;
  route: WebhookRoute;
  /** The route's authentication with credential values resolved. */
  auth?: WebhookAuthConfig;
  /** Full URL path: /webhook/<story path>/<path>. */
  url: string;
}

type RetrySettings = ReturnType<NonNullable<ActionType['retry']>>;

interface StoryRuntime extends StoryValues {
  story: LoadedStory;
  redact: Redact;
}

export class Runner {
  readonly webhooks: HostedWebhook[] = [];
  private readonly runtimes = new Map<string, StoryRuntime>();
  private readonly store: Store;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly http: HttpTransport;
  private readonly workerId: string;
  private readonly pendingLimit: PendingLimit;
  private readonly inflight = new Set<Promise<void>>();
  private readonly waiters = new Map<string, ((run: RunRecord) => void)[]>();
  private readonly abort = new AbortController();
  /** Action state for stores that keep none; lost on restart. */
  private readonly localState = new MemoryStore();
  private wake: (() => void) | undefined;
  private signalled = false;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private readonly metrics: EngineMetrics | undefined;
  /** Epoch ms of the work loop's latest pass, which shows the loop is not stuck. */
  private lastPassAt = 0;
  /** Ids of the items this process is executing, whose leases it renews. */
  private readonly runningIds = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;
  /** Whether the latest claim got all it asked for, which suggests more work is ready. */
  private moreReady = false;
  /** Epoch ms since which the loop has waited for free slots before claiming. */
  private gatheringSince: number | undefined;
  private readonly retrySettings = new WeakMap<LoadedAction, RetrySettings | undefined>();

  constructor(options: RunnerOptions) {
    this.store = options.store;
    this.workerId = options.workerId ?? newWorkerId();
    this.log = options.logger.child({ workerId: this.workerId });
    this.metrics = options.metrics;
    this.concurrency = options.concurrency ?? 32;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
    this.pollMs = options.pollMs ?? 250;
    this.http = options.http ?? defaultTransport;
    // Every action in flight listens on this one signal, so more than Node's default of 10
    // listeners is expected and not a leak.
    setMaxListeners(0, this.abort.signal);
    this.pendingLimit = new PendingLimit(options.maxPending ?? DEFAULT_MAX_PENDING, () => this.store.pendingCount());

    const missing: string[] = [];
    for (const story of options.stories) {
      const values = resolveStoryValues(story, options.env ?? process.env, missing);
      const redact = makeRedactor(Object.values(values.credentials));
      this.runtimes.set(story.path, { story, ...values, redact });
      for (const action of story.actions) {
        const route = action.kind.webhookRoute?.(action);
        if (!route) continue;
        const auth = resolveWebhookAuth(
          route.auth,
          values.credentials,
          new Set(Object.keys(story.credentials)),
          `${story.file}: ${action.name}`,
          missing,
        );
        this.webhooks.push({ story, action, route, url: `/webhook/${story.path}/${route.path}`, auth });
      }
    }
    if (missing.length > 0) throw new StoryConfigError(missing);
  }

  /**
   * Stores a webhook request as a new run; resolves once the store has made it durable.
   * Throws TooBusyError, and stores nothing, while the pending work is at its limit.
   */
  async accept(webhook: HostedWebhook, request: WebhookRequest): Promise<RunRecord> {
    await this.pendingLimit.admit();
    const runId = newId();
    let run: RunRecord;
    try {
      run = await this.store.createRun(
        { id: runId, story: webhook.story.path, storyName: webhook.story.name },
        {
          runId,
          story: webhook.story.path,
          action: webhook.action.name,
          parentEventId: null,
          input: request as unknown as Json,
          lineage: {},
          availableAt: Date.now(),
        },
      );
    } catch (error) {
      this.pendingLimit.adjust(-1);
      throw error;
    }
    this.notify();
    return run;
  }

  /**
   * Throws TooBusyError while this process's count of pending work, taken from the store within
   * the last second, is at its limit. It runs no store query, so the server calls it before
   * reading a request's body.
   */
  checkRoom(): void {
    this.pendingLimit.checkRoom();
  }

  /** Starts executing pending work, first taking back the claims of crashed local engines. */
  start(): void {
    if (this.loop) return;
    this.loop = this.reclaim().then(() => this.work());
    if (this.store.renewLeases) {
      // Three renewals per lease, so one slow or failed renewal does not lose the claims.
      this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(100, this.leaseMs / 3));
      this.renewTimer.unref();
    }
  }

  /**
   * Stops claiming and waits for work in flight. Actions still running after `graceMs` are
   * aborted and their items released, so they run again after a restart.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    this.notify();
    await this.loop;
    if (this.inflight.size > 0) {
      const timer = setTimeout(() => {
        this.log.warn({ inflight: this.inflight.size, graceMs }, 'stop: aborting work still in flight');
        this.abort.abort();
      }, graceMs);
      await Promise.allSettled([...this.inflight]);
      clearTimeout(timer);
    }
    clearInterval(this.renewTimer);
  }

  /** Stops at once: aborts actions in flight; their items stay claimed until the lease ends. */
  abortNow(): void {
    this.stopping = true;
    clearInterval(this.renewTimer);
    this.abort.abort();
    this.notify();
  }

  /** Resolves when the run has no pending work left; rejects when the store does not know the run. */
  async waitForRun(runId: string): Promise<RunRecord> {
    let settled = false;
    let waiter: (run: RunRecord) => void = () => undefined;
    const finished = new Promise<RunRecord>((resolve) => {
      waiter = (run) => {
        settled = true;
        resolve(run);
      };
      const list = this.waiters.get(runId) ?? [];
      list.push(waiter);
      this.waiters.set(runId, list);
    });
    const current = await this.store.getRun(runId);
    if (current === undefined) {
      // The run may have finished, settling this waiter, and been dropped during the lookup.
      if (settled) return finished;
      const list = this.waiters.get(runId)?.filter((other) => other !== waiter) ?? [];
      if (list.length > 0) this.waiters.set(runId, list);
      else this.waiters.delete(runId);
      throw new Error(`run ${runId} not found: the store has no such run, or it already dropped it as finished`);
    }
    if (current.status !== 'running') this.settle(current);
    return finished;
  }

  /** Number of work items being executed by this process. */
  get busy(): number {
    return this.inflight.size;
  }

  /**
   * Checks that the store responds within `timeoutMs` and that the work loop made a pass
   * recently. A loop pass waits at most 4 poll intervals, so a gap of 10 s or 8 intervals,
   * whichever is longer, means the loop is stuck.
   */
  async health(timeoutMs = 2000): Promise<RunnerHealth> {
    let storeError: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`store did not respond within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.store.pendingCount(), timeout]);
    } catch (error) {
      storeError = error instanceof Error ? error.message : String(error);
    } finally {
      clearTimeout(timer);
    }

    let worker: RunnerHealth['worker'] = 'running';
    if (!this.loop || this.stopping) worker = 'stopped';
    else if (Date.now() - this.lastPassAt > Math.max(10_000, this.pollMs * 8)) worker = 'stalled';
    return {
      healthy: storeError === undefined && worker === 'running',
      store: storeError === undefined ? 'ok' : 'unreachable',
      ...(storeError === undefined ? {} : { storeError }),
      worker,
      busy: this.inflight.size,
    };
  }

  private notify(): void {
    this.signalled = true;
    this.wake?.();
  }

  private idle(ms: number): Promise<void> {
    if (this.signalled) {
      this.signalled = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        if (this.wake === finish) this.wake = undefined;
        this.signalled = false;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wake = finish;
    });
  }

  private async renewLeases(): Promise<void> {
    if (this.runningIds.size === 0 || !this.store.renewLeases) return;
    try {
      await this.store.renewLeases(this.workerId, [...this.runningIds], this.leaseMs);
    } catch (error) {
      const items = this.runningIds.size;
      this.log.warn({ err: error, items }, 'renewing leases failed; other workers may take the items over when they expire');
    }
  }

  private async reclaim(): Promise<void> {
    try {
      const gone = await releaseGoneWorkers(this.store);
      if (gone.items > 0) {
        this.log.info(gone, 'released work claimed by engines that are no longer running');
      }
    } catch (error) {
      const message = 'releasing claims of stopped engines failed; they wait for lease expiry';
      this.log.error({ err: error }, message);
    }
  }

  private async work(): Promise<void> {
    while (!this.stopping) {
      this.lastPassAt = Date.now();
      const free = this.concurrency - this.inflight.size;
      if (free <= 0) {
        await this.idle(this.pollMs);
        continue;
      }
      if (await this.gatherSlots(free)) continue;
      let items: WorkItem[];
      try {
        items = await this.store.claim(this.workerId, free, this.leaseMs);
        // A full claim means more work is probably ready, so the next claim waits for slots.
        this.moreReady = items.length === free;
      } catch (error) {
        this.log.error({ err: error }, 'claiming work failed; retrying');
        await this.idle(this.pollMs * 4);
        continue;
      }
      if (items.length === 0) {
        await this.idle(this.pollMs);
        continue;
      }
      for (const item of items) {
        this.runningIds.add(item.id);
        const task: Promise<void> = this.execute(item)
          .catch((error: unknown) => {
            const ids = { runId: item.runId, eventId: item.parentEventId, story: item.story, action: item.action };
            this.log.error({ err: error, ...ids }, 'work item failed');
          })
          .finally(() => {
            this.inflight.delete(task);
            this.runningIds.delete(item.id);
            this.notify();
          });
        this.inflight.add(task);
      }
    }
  }

  /**
   * Waits, at most CLAIM_GATHER_MS, while work is ready but few slots are free, so that one
   * claim takes several items. Each claim is a store transaction, and under load the loop would
   * otherwise claim one item each time one finishes. Returns true when the loop should look
   * again.
   */
  private async gatherSlots(free: number): Promise<boolean> {
    if (!this.moreReady || free >= this.concurrency / 4) {
      this.gatheringSince = undefined;
      return false;
    }
    const now = Date.now();
    this.gatheringSince ??= now;
    const left = CLAIM_GATHER_MS - (now - this.gatheringSince);
    if (left <= 0) {
      this.gatheringSince = undefined;
      return false;
    }
    await this.idle(left);
    return true;
  }

  private async execute(claimed: WorkItem): Promise<void> {
    const item = { ...claimed, attempt: claimed.attempt + 1 };
    const runtime = this.runtimes.get(item.story);
    const action = runtime?.story.byName.get(item.action);
    const startedAt = Date.now();
    if (!runtime || !action) {
      const error = `story "${item.story}" has no action "${item.action}" in this process; load the story that created this run`;
      await this.finish(item, { events: [failedEvent(item, item.action, error, startedAt)], children: [] });
      return;
    }
    if (action.kind.sideEffects) {
      const retry = this.retryOf(action);
      // Attempts cut off by crashes count too; past this limit the item fails instead of
      // running forever when it keeps crashing the engine.
      const limit = (retry?.policy.attempts ?? 1) + MAX_INTERRUPTED_EXTRA;
      if (item.attempt > limit) {
        const error =
          `${action.name}: gave up after ${item.attempt - 1} attempts, ` +
          'the last ones interrupted by an engine stop or crash';
        const failed = failedEvent(item, action.name, error, startedAt);
        await this.finish(item, { events: [failed], children: [] });
        return;
      }
      await this.store.recordAttempt(item);
    }

    const completion = await this.runAction(item, runtime, action, false);
    if (!completion) return;
    await this.runInline(completion, runtime);
    await this.finish(item, completion);
  }

  /**
   * Runs the children that an action allows to run in the same step (no effect outside the
   * engine, no state), so their events commit with the parent's in one completion instead of
   * a store round trip each. A crash before the commit loses nothing: the claimed item runs
   * again, and so do they.
   */
  private async runInline(completion: Completion, runtime: StoryRuntime): Promise<void> {
    if (completion.retryAt !== undefined) return;
    const queue = [...completion.children];
    const kept: NewWorkItem[] = [];
    let budget = MAX_INLINE_ACTIONS;
    while (queue.length > 0) {
      const child = queue.shift() as NewWorkItem;
      const action = runtime.story.byName.get(child.action);
      const ready = child.availableAt <= Date.now() && timerOf(child.input) === undefined;
      if (budget <= 0 || !action || !ready || action.kind.inline?.(action) !== true) {
        kept.push(child);
        continue;
      }
      budget -= 1;
      const item = toWorkItem(child, 1);
      const result = await this.runAction(item, runtime, action, true);
      if (!result || result.retryAt !== undefined) {
        kept.push(child);
        continue;
      }
      completion.events.push(...result.events);
      queue.push(...result.children);
      if (result.cancel) completion.cancel = [...(completion.cancel ?? []), ...result.cancel];
    }
    completion.children = kept;
  }

  /**
   * Runs one action for one item and returns what to commit, or undefined when a stop
   * aborted it. A claimed item is then released, and an inline one stays with its parent.
   */
  private async runAction(
    item: WorkItem,
    runtime: StoryRuntime,
    action: LoadedAction,
    inline: boolean,
  ): Promise<Completion | undefined> {
    const startedAt = Date.now();
    const context: EvalContext = Object.assign(copyRecord(item.lineage), {
      credentials: runtime.credentials,
      resources: runtime.resources,
      meta: {
        story: runtime.story.name,
        run_id: item.runId,
        event_id: item.parentEventId,
        action: action.name,
        time: new Date(startedAt).toISOString(),
      },
    });
    // Built on first use: at the default level most items log nothing, and a pino child
    // costs about 10 µs, a measurable share of a short action.
    let log: Logger | undefined;
    const itemLog = (): Logger =>
      (log ??= this.log.child({
        runId: item.runId,
        eventId: item.parentEventId,
        story: runtime.story.path,
        action: action.name,
      }));
    const timer = timerOf(item.input);
    const input: ActionInput = {
      story: runtime.story,
      action,
      event: timer === undefined ? item.input : null,
      timer,
      state: this.stateOf(`${runtime.story.path}/${action.name}`),
      context,
      field: async <T>(name: string) => {
        const compiled = action.compiled[name];
        return (compiled ? await compiled.evaluate(context) : action.options[name]) as T;
      },
      signal: this.abort.signal,
      get log() {
        return itemLog();
      },
      attempt: item.attempt,
      http: (request) =>
        this.http(request, { story: runtime.story.path, action: action.name, runId: item.runId }),
    };

    let completion: Completion;
    try {
      const result = await action.kind.run(input);
      completion = completionOf(item, action, result, startedAt, runtime.redact);
    } catch (error) {
      if (this.abort.signal.aborted) {
        if (inline) return undefined;
        await this.store.release([item]);
        itemLog().info({ attempt: item.attempt }, 'stop: released the work item of an aborted action');
        return undefined;
      }
      if (!(error instanceof ActionError)) itemLog().debug({ err: runtime.redact(String(error)) }, 'action threw');
      const retry = this.retryOf(action);
      const plan = retry
        ? planRetry(retry.policy, retry.method, error, item.attempt)
        : { retry: false as const, reason: error instanceof Error ? error.message : String(error) };
      const message = runtime.redact(`${action.name}: ${plan.reason}`);
      if (plan.retry) {
        const retryAt = new Date(plan.retryAt).toISOString();
        itemLog().warn({ attempt: item.attempt, retryAt, reason: message }, 'action failed; retry scheduled');
        completion = { events: [], children: [], retryAt: plan.retryAt, retryReason: message };
      } else if (action.options['emit_failure'] === true) {
        const data = error instanceof ActionError && isObject(error.data) ? error.data : {};
        const failure = { error: { ...data, message: runtime.redact(plan.reason), action: action.name } };
        const result = { emit: [failure], summary: 'failed; emitted as an event' };
        completion = completionOf(item, action, result, startedAt, runtime.redact);
      } else {
        completion = { events: [failedEvent(item, action.name, message, startedAt)], children: [] };
      }
    }
    const outcome = outcomeOf(completion);
    const durationMs = Date.now() - startedAt;
    this.metrics?.actionFinished(runtime.story.path, action.type, outcome, durationMs / 1000);
    if (this.log.isLevelEnabled('debug')) {
      itemLog().debug({ outcome, durationMs, attempt: item.attempt, inline }, 'action finished');
    }
    return completion;
  }

  /** Returns the retry settings of an action, computed on its first use. */
  private retryOf(action: LoadedAction): RetrySettings | undefined {
    if (!this.retrySettings.has(action)) this.retrySettings.set(action, action.kind.retry?.(action));
    return this.retrySettings.get(action);
  }

  /** State of one action: the store's when it keeps state, else this process's memory. */
  private stateOf(scope: string): ActionState {
    const store = this.store.updateState ? this.store : this.localState;
    return { update: (key, change) => (store.updateState as NonNullable<Store['updateState']>).call(store, scope, key, change) };
  }

  private async finish(item: WorkItem, completion: Completion): Promise<void> {
    const result = await this.store.complete(item, completion);
    // A finished item and the items it cancels leave the store and its children enter it;
    // a retried item stays.
    if (completion.retryAt === undefined) {
      this.pendingLimit.adjust(completion.children.length - 1 - (completion.cancel?.length ?? 0));
    }
    if (result.runFinished) await this.runFinished(item.runId, result.runFinished);
  }

  private async runFinished(runId: string, status: RunStatus): Promise<void> {
    const run = await this.store.getRun(runId);
    if (run) this.metrics?.runFinished(run.story, status);
    if (status === 'failed') this.log.warn({ runId, story: run?.story, error: run?.error }, 'run failed');
    else this.log.debug({ runId, story: run?.story }, 'run succeeded');
    if (run) this.settle(run);
  }

  private settle(run: RunRecord): void {
    const list = this.waiters.get(run.id);
    if (!list) return;
    this.waiters.delete(run.id);
    for (const resolve of list) resolve(run);
  }
}

/** Maximum wait in ms for more free slots before a claim while work is ready. */
const CLAIM_GATHER_MS = 2;

/** Actions run inline after one claimed item, at most; the rest become work items. */
const MAX_INLINE_ACTIONS = 64;

/** Attempts allowed beyond the retry limit for attempts that a stop or crash cut off. */
const MAX_INTERRUPTED_EXTRA = 3;
