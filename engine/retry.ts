/**
 * Retry policy of actions with side effects (http_request's `retry:` field). The runner calls
 * planRetry after a failed attempt and schedules the next one through the store (retryAt),
 * so a crash between attempts loses nothing.
 */
import { ActionError } from './types';

/** Methods that are safe to send twice (RFC 9110, section 9.2.2), so retried by default. */
export const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'] as const;

export const RETRY_DEFAULTS = {
  attempts: 3,
  backoffSeconds: 1,
  maxBackoffSeconds: 300,
};

/** Longest Retry-After honoured; a server asking for more is waited on for this long. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  methods: ReadonlySet<string>;
}

/** Retry settings of one action, as the runner needs them to plan a retry. */
export interface ActionRetry {
  policy: RetryPolicy;
  /** HTTP method of the request, checked against `policy.methods`. */
  method: string;
}

/** JSON Schema of the `retry` field. */
export const retrySchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Retries after a timeout, a refused or reset connection, or status 408, 425, 429, 500, ' +
    '502, 503 or 504. Each retry is scheduled in the store, so it survives a restart.',
  properties: {
    attempts: {
      type: 'integer',
      minimum: 1,
      maximum: 20,
      default: RETRY_DEFAULTS.attempts,
      description: 'Attempts in all, the first included; 1 turns retries off.',
    },
    backoff: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 3600,
      default: RETRY_DEFAULTS.backoffSeconds,
      description:
        'Seconds before the first retry; each later retry waits twice as long, with jitter. ' +
        'A Retry-After header on 429 or 503 replaces this delay.',
    },
    max_backoff: {
      type: 'number',
      exclusiveMinimum: 0,
      maximum: 86400,
      default: RETRY_DEFAULTS.maxBackoffSeconds,
      description: 'Maximum delay between two attempts, in seconds.',
    },
    methods: {
      type: 'array',
      uniqueItems: true,
      items: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] },
      description:
        'Methods that are retried. Default: GET, HEAD, PUT, DELETE and OPTIONS. List POST or ' +
        'PATCH only when the receiving API tolerates a duplicate request.',
    },
  },
} as const;

/** Builds the policy from an action's `retry:` field as written (already schema-checked). */
export function retryPolicy(retry: unknown): RetryPolicy {
  const written = (retry ?? {}) as {
    attempts?: number;
    backoff?: number;
    max_backoff?: number;
    methods?: string[];
  };
  return {
    attempts: written.attempts ?? RETRY_DEFAULTS.attempts,
    backoffMs: (written.backoff ?? RETRY_DEFAULTS.backoffSeconds) * 1000,
    maxBackoffMs: (written.max_backoff ?? RETRY_DEFAULTS.maxBackoffSeconds) * 1000,
    methods: new Set(written.methods ?? IDEMPOTENT_METHODS),
  };
}

/**
 * Returns the delay before retry number `attempt` + 1 in ms. Without Retry-After it is
 * exponential with "equal jitter": half the step is fixed and half random, so that
 * senders that failed together do not retry together.
 */
export function retryDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  const step = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

export type RetryPlan =
  | { retry: true; retryAt: number; reason: string }
  | { retry: false; reason: string };

/**
 * Decides whether a failed attempt is retried. `attempt` is the number of the attempt that
 * failed (1 for the first). A final failure's reason states why no retry follows.
 */
export function planRetry(
  policy: RetryPolicy,
  method: string,
  error: unknown,
  attempt: number,
  now = Date.now(),
  random: () => number = Math.random,
): RetryPlan {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof ActionError) || !error.retryable) return { retry: false, reason: message };
  if (!policy.methods.has(method)) {
    return {
      retry: false,
      reason: `${message} (not retried: ${method} is not in retry.methods)`,
    };
  }
  if (attempt >= policy.attempts) {
    const attempts = attempt === 1 ? '1 attempt' : `${attempt} attempts`;
    return { retry: false, reason: `${message} (gave up after ${attempts})` };
  }
  const delay = retryDelay(policy, attempt, error.retryAfterMs, random);
  return {
    retry: true,
    retryAt: now + delay,
    reason: `${message} (attempt ${attempt} of ${policy.attempts}, next in ${delay} ms)`,
  };
}
