/**
 * Worker ids name the host and process that hold a claim (`host:pid:random`), so a restarted
 * engine can recognise claims left by a process of its host that no longer exists.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Store } from './store/types';

/** Builds a worker id for this process. */
export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** True when `workerId` names a process of this host that is not running. */
export function isGoneLocalWorker(workerId: string): boolean {
  const match = /^(.*):(\d+):[0-9a-f]+$/.exec(workerId);
  if (!match || match[1] !== hostname()) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM means the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Gives back the claims of this host's processes that are gone, so their work resumes now
 * instead of when the leases expire. Returns the gone worker ids and the items released.
 */
export async function releaseGoneWorkers(
  store: Store,
): Promise<{ workers: string[]; items: number }> {
  if (!store.listClaimants || !store.releaseClaimsOf) return { workers: [], items: 0 };
  const workers = (await store.listClaimants()).filter(isGoneLocalWorker);
  if (workers.length === 0) return { workers, items: 0 };
  return { workers, items: await store.releaseClaimsOf(workers) };
}
