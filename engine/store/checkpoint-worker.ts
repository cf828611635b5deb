/**
 * Worker thread of WalCheckpointer: copies the WAL of the SQLite file `workerData.file` into
 * the database with PASSIVE checkpoints every `workerData.intervalMs`, on a connection of its
 * own, until the parent posts 'stop'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const db = new Database(file, { fileMustExist: true });
// A PASSIVE checkpoint never calls the busy handler (sqlite3_wal_checkpoint_v2 docs); the
// timeout covers opening the database next to a writer.
db.pragma('busy_timeout = 1000');
// With NORMAL, a checkpoint fsyncs the WAL before it copies frames, and the database file
// once every frame is copied. Until then the WAL keeps the frames, so none is lost.
db.pragma('synchronous = NORMAL');
// This connection never writes, so it never checkpoints on its own.
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => checkpoint.run(), intervalMs);

parentPort?.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
