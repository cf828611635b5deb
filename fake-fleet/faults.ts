/**
 * Fault injection for retry, timeout and crash tests. A queued fault hits the next `times`
 * requests (default 1) whose method and route match, before authentication, in queue order:
 * - `delayMs`: wait that long first, then go on (with `status`/`reset`, or handle normally);
 * - `reset`: destroy the socket without a response (the client sees ECONNRESET or "socket hang up");
 * - `status`: respond with that status, with `Retry-After: retryAfter` when given and `body` (default:
 *   Fleet's error body for the status).
 */
export interface FaultSpec {
  /**
   * Route after `/api/<version>/fleet/`, where `:name` matches one path segment
   * (`hosts/:id`, `commands/run`), or a RegExp tested against the whole path.
   */
  route: string | RegExp;
  /** HTTP method to match; any method when absent. */
  method?: string;
  /** How many matching requests the fault hits; default 1. */
  times?: number;
  delayMs?: number;
  reset?: boolean;
  status?: number;
  /** Value of the Retry-After header, in seconds or an HTTP date. */
  retryAfter?: number | string;
  /** Response body: an object is sent as Fleet-style JSON, a string as it is. */
  body?: unknown;
}

interface QueuedFault {
  spec: FaultSpec;
  matcher: RegExp;
  remaining: number;
}

const API_PREFIX = '^/api/(?:v1|2022-04|latest)/fleet/';

function routeMatcher(route: string | RegExp): RegExp {
  if (route instanceof RegExp) return route;
  const pattern = route
    .replace(/^\/+/, '')
    .split('/')
    .map((segment) =>
      segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`${API_PREFIX}${pattern}$`);
}

export class FaultQueue {
  private readonly queue: QueuedFault[] = [];

  add(spec: FaultSpec): void {
    const times = spec.times ?? 1;
    if (!Number.isInteger(times) || times < 1) {
      throw new Error(`fault times must be a positive integer, got ${String(spec.times)}`);
    }
    if (spec.delayMs === undefined && !spec.reset && spec.status === undefined) {
      throw new Error(
        `fault for route ${String(spec.route)} has no effect: set delayMs, reset or status`,
      );
    }
    this.queue.push({ spec, matcher: routeMatcher(spec.route), remaining: times });
  }

  /** Removes one use of the first fault matching the request and returns it. */
  take(method: string, path: string): FaultSpec | undefined {
    const index = this.queue.findIndex(
      (fault) =>
        (fault.spec.method === undefined || fault.spec.method.toUpperCase() === method) &&
        fault.matcher.test(path),
    );
    if (index === -1) return undefined;
    const fault = this.queue[index];
    fault.remaining -= 1;
    if (fault.remaining === 0) this.queue.splice(index, 1);
    return fault.spec;
  }

  get pending(): number {
    return this.queue.length;
  }

  clear(): void {
    this.queue.length = 0;
  }
}
