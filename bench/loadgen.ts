/**
 * The load generator, run as a forked child so that its CPU is not counted against a
 * target. It receives one LoadPlan over IPC, sends calendar webhooks with varying host ids
 * through an undici pool of keep-alive connections, and replies with one record per request.
 *
 * Closed mode: `connections` loops each send the next request when the previous one is
 * responded to, until the duration or the request count runs out.
 * Open mode: request i is planned at start + i / rate, and its latency is measured from that
 * planned time, so a stalled target cannot hide the requests it delayed.
 */
import { Pool } from 'undici';
import { calendarBody, nowUs, sleep } from './common.js';

export interface LoadPlan {
  mode: 'closed' | 'open';
  origin: string;
  path: string;
  connections: number;
  /** Upper bound on the phase length; open mode also ends after rate * duration requests. */
  durationMs: number;
  /** Upper bound on the number of requests. */
  maxRequests: number;
  /** Requests per second in open mode. */
  rate: number;
  /** Host id of the first request; request i uses idBase + i. */
  idBase: number;
  timeoutMs: number;
}

export interface LoadResult {
  startUs: number;
  endUs: number;
  count: number;
  ids: Float64Array;
  plannedUs: Float64Array;
  ackUs: Float64Array;
  /** HTTP status per request; 0 for a socket error or timeout. */
  status: Uint16Array;
  /** Socket error messages with their counts. */
  socketErrors: Record<string, number>;
}

/** Pause of a closed-loop connection after a 429, so it does not spin on rejections. */
const PAUSE_AFTER_429_MS = 10;

/** Pools by origin and settings, kept across plans so that a phase starts on open connections. */
const pools = new Map<string, Pool>();

function poolFor(plan: LoadPlan): Pool {
  const key = `${plan.origin} ${plan.connections} ${plan.timeoutMs}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = new Pool(plan.origin, {
      connections: plan.connections,
      pipelining: 1,
      headersTimeout: plan.timeoutMs,
      bodyTimeout: plan.timeoutMs,
    });
    pools.set(key, pool);
  }
  return pool;
}

async function runPlan(plan: LoadPlan): Promise<LoadResult> {
  const pool = poolFor(plan);
  const timestamp = new Date().toISOString();
  const ids: number[] = [];
  const planned: number[] = [];
  const acks: number[] = [];
  const statuses: number[] = [];
  const socketErrors: Record<string, number> = {};

  const send = async (index: number, plannedUs: number): Promise<number> => {
    const id = plan.idBase + index;
    ids[index] = id;
    planned[index] = plannedUs;
    try {
      const response = await pool.request({
        path: plan.path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: calendarBody(id, timestamp),
      });
      await response.body.dump();
      statuses[index] = response.statusCode;
    } catch (error) {
      const message = (error as Error).message;
      socketErrors[message] = (socketErrors[message] ?? 0) + 1;
      statuses[index] = 0;
    }
    acks[index] = nowUs();
    return statuses[index];
  };

  const startUs = nowUs();
  const deadlineUs = startUs + plan.durationMs * 1000;
  if (plan.mode === 'closed') {
    let next = 0;
    const loop = async () => {
      while (next < plan.maxRequests && nowUs() < deadlineUs) {
        const status = await send(next++, nowUs());
        if (status === 429) await sleep(PAUSE_AFTER_429_MS);
      }
    };
    await Promise.all(Array.from({ length: plan.connections }, loop));
  } else {
    const total = Math.min(plan.maxRequests, Math.round((plan.rate * plan.durationMs) / 1000));
    const intervalUs = 1e6 / plan.rate;
    const pending: Promise<number>[] = [];
    for (let index = 0; index < total; ) {
      const now = nowUs();
      while (index < total && startUs + index * intervalUs <= now) {
        pending.push(send(index, startUs + index * intervalUs));
        index++;
      }
      if (index < total) await sleep(Math.max(0, (startUs + index * intervalUs - nowUs()) / 1000));
    }
    await Promise.all(pending);
  }
  const endUs = nowUs();
  return {
    startUs,
    endUs,
    count: ids.length,
    ids: Float64Array.from(ids),
    plannedUs: Float64Array.from(planned),
    ackUs: Float64Array.from(acks),
    status: Uint16Array.from(statuses),
    socketErrors,
  };
}

process.on('message', (message: { callId: number; plan: LoadPlan }) => {
  runPlan(message.plan).then(
    (result) => process.send!({ replyTo: message.callId, result }),
    (error: Error) => process.send!({ replyTo: message.callId, error: `loadgen: ${error.stack}` }),
  );
});
process.on('disconnect', () => process.exit(0));
