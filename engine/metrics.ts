/**
 * Prometheus metrics of one engine process (prom-client). Each instance owns its registry, so
 * several engines in one process (tests) keep separate counts. Counters count what this
 * process did; the queue depth is read from the store, so it covers every worker sharing it.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from './store/types';

/** Outcome of one action attempt: an event status, or `retry` when another attempt follows. */
export type ActionOutcome = 'emitted' | 'skipped' | 'failed' | 'retry';

export interface EngineMetricsOptions {
  /** Store whose pending work is reported as the queue depth at each scrape. */
  store?: Store;
  /** Also export the Node.js process metrics (CPU, memory, event loop lag); default true. */
  processMetrics?: boolean;
}

export class EngineMetrics {
  readonly registry = new Registry();
  private readonly webhooksAccepted: Counter<'story'>;
  private readonly webhooksRejected: Counter<'story' | 'reason'>;
  private readonly actions: Counter<'story' | 'action_type' | 'outcome'>;
  private readonly actionDuration: Histogram<'action_type' | 'outcome'>;
  private readonly retries: Counter<'story' | 'action_type'>;
  private readonly runsFinished: Counter<'story' | 'status'>;

  constructor(options: EngineMetricsOptions = {}) {
    const registers = [this.registry];
    this.webhooksAccepted = new Counter({
      name: 'engine_webhooks_accepted_total',
      help: 'Webhook requests stored as new runs.',
      labelNames: ['story'],
      registers,
    });
    this.webhooksRejected = new Counter({
      name: 'engine_webhooks_rejected_total',
      help: 'Webhook requests rejected with an error response, by error code.',
      labelNames: ['story', 'reason'],
      registers,
    });
    this.actions = new Counter({
      name: 'engine_actions_total',
      help: 'Action attempts by action type and outcome.',
      labelNames: ['story', 'action_type', 'outcome'],
      registers,
    });
    this.actionDuration = new Histogram({
      name: 'engine_action_duration_seconds',
      help: 'Duration of action attempts in seconds.',
      labelNames: ['action_type', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.retries = new Counter({
      name: 'engine_action_retries_total',
      help: 'Action attempts that failed and were scheduled again.',
      labelNames: ['story', 'action_type'],
      registers,
    });
    this.runsFinished = new Counter({
      name: 'engine_runs_finished_total',
      help: 'Runs finished by this process, by final status.',
      labelNames: ['story', 'status'],
      registers,
    });

    const store = options.store;
    if (store) {
      // prom-client collects all metrics in parallel, so both gauges share one read per scrape.
      let reading: Promise<number | undefined> | undefined;
      const readDepth = () => {
        reading ??= store
          .pendingCount()
          .catch(() => undefined)
          .finally(() => {
            reading = undefined;
          });
        return reading;
      };
      new Gauge({
        name: 'engine_store_up',
        help: '1 when the store answered at the latest scrape, else 0.',
        registers,
        async collect() {
          this.set((await readDepth()) === undefined ? 0 : 1);
        },
      });
      new Gauge({
        name: 'engine_queue_depth',
        help: 'Pending work items in the store, all workers included (NaN when the read failed).',
        registers,
        async collect() {
          this.set((await readDepth()) ?? Number.NaN);
        },
      });
    }
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  webhookAccepted(story: string): void {
    this.webhooksAccepted.inc({ story });
  }

  /** Counts a rejected request; `story` is empty when the path matched no story. */
  webhookRejected(story: string, reason: string): void {
    this.webhooksRejected.inc({ story, reason });
  }

  actionFinished(story: string, actionType: string, outcome: ActionOutcome, seconds: number): void {
    this.actions.inc({ story, action_type: actionType, outcome });
    this.actionDuration.observe({ action_type: actionType, outcome }, seconds);
    if (outcome === 'retry') this.retries.inc({ story, action_type: actionType });
  }

  runFinished(story: string, status: string): void {
    this.runsFinished.inc({ story, status });
  }

  /** Renders every metric in the Prometheus text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
