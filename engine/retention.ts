/** Periodic deletion of finished runs older than `--keep`. */
import type { Logger } from 'pino';
import type { Store } from './store/types';

/** Maximum pause between two prunes. */
const MAX_PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Prunes runs that finished and were created more than `keepMs` ago, now and then every
 * tenth of `keepMs` (at most hourly). Returns a function that stops the timer.
 */
export function startRetention(store: Store, keepMs: number, log: Logger): () => void {
  if (!store.prune) {
    log.warn({ store: store.kind }, '--keep has no effect: this store cannot delete runs');
    return () => undefined;
  }
  const prune = store.prune.bind(store);
  const run = async (): Promise<void> => {
    try {
      const deleted = await prune(Date.now() - keepMs);
      if (deleted > 0) log.info({ deleted, keepMs }, 'deleted finished runs past retention');
    } catch (error) {
      log.error({ err: error }, 'deleting old runs failed; trying again at the next interval');
    }
  };
  void run();
  const timer = setInterval(() => void run(), Math.min(keepMs / 10, MAX_PRUNE_INTERVAL_MS));
  timer.unref();
  return () => clearInterval(timer);
}
