/**
 * Helpers shared by the benchmark's processes: the clock, the host id scheme and the
 * /proc readings. Every process uses the same clock so that times from the load
 * generator and from the fake Fleet can be subtracted.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';

/** Microseconds on CLOCK_MONOTONIC, which all processes on one Linux machine share. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Derives the hardware UUID that the fake Fleet gives host `id`; the id is its last 12 hex digits. */
export function hostUuid(id: number): string {
  return `B0000000-0000-4000-8000-${id.toString(16).toUpperCase().padStart(12, '0')}`;
}

/** Inverse of hostUuid; returns NaN for a UUID that the fake Fleet did not hand out. */
export function hostIdOf(uuid: string): number {
  if (!uuid.startsWith('B0000000-0000-4000-8000-')) return NaN;
  return parseInt(uuid.slice(24), 16);
}

export const POLICY_NAME = 'macOS - OS version up to date';
export const WEBHOOK_PATH = '/webhook/fleet/calendar';

/** Fleet's calendar webhook body for host `id`, in the shape Fleet sends. */
export function calendarBody(id: number, timestamp: string): string {
  return (
    `{"timestamp":"${timestamp}","host_id":${id},"host_display_name":"bench-${id}",` +
    `"host_serial_number":"BENCH${id}","failing_policies":[{"id":479,"name":"${POLICY_NAME}"}]}`
  );
}

// /proc reports CPU times in USER_HZ ticks, which Linux fixes at 100 per second for user space.
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user + system) in milliseconds that process `pid` has used so far. */
export function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name in brackets may contain spaces, so fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Reads a memory figure from /proc/<pid>/status (`VmRSS`, `VmHWM`) in megabytes. */
export function readMemoryMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${field} line`);
  return Number(match[1]) / 1024;
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Value at quantile `q` (0..1) of an ascending array, or NaN when it is empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

interface IpcReply {
  replyTo: number;
  error?: string;
  [key: string]: unknown;
}

let nextCallId = 1;

/** Sends `message` to a forked child and waits for its reply carrying the same id. */
export function ipcCall<T>(child: ChildProcess, message: object, timeoutMs = 30_000): Promise<T> {
  const id = nextCallId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`child ${child.pid} sent no reply to ${JSON.stringify(message)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (reply: IpcReply) => {
      if (reply.replyTo !== id) return;
      cleanup();
      if (reply.error) reject(new Error(reply.error));
      else resolve(reply as unknown as T);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child ${child.pid} exited with code ${code} before replying`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.send({ ...message, callId: id });
  });
}
