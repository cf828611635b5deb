/**
 * Group fsync of a SQLite write-ahead log on the libuv thread pool, so a durable commit does
 * not block the event loop while the disk flushes.
 *
 * A commit made with `synchronous = NORMAL` has written its WAL frames to the OS when it
 * returns. An fsync of the WAL file then makes them durable, as `synchronous = FULL` would
 * have done inside the commit. If a checkpoint copies the frames into the database file first, it
 * fsyncs that file before the WAL can be reused (SQLite does so at every sync level but OFF),
 * so the frames stay durable either way.
 */
import { closeSync, fdatasync, openSync } from 'node:fs';

type FsyncFile = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class WalSync {
  private fd: number | undefined;
  private inFlight = false;
  private waiting: Waiter[] = [];

  /**
   * `fsyncFile` is node:fs `fdatasync` except in tests. It flushes the data and the file size,
   * all that reading the WAL back needs, but not the modification time that `fsync` also
   * writes.
   */
  constructor(
    readonly walFile: string,
    private readonly fsyncFile: FsyncFile = fdatasync,
  ) {}

  /**
   * Resolves once everything written to the WAL before this call is on disk. Calls made while
   * an fsync runs wait for the next one and share it, so there is at most one fsync at a time.
   */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.start();
    });
  }

  /** Waits for the queued syncs, then closes the WAL file. */
  async close(): Promise<void> {
    if (this.inFlight || this.waiting.length > 0) {
      // A failed fsync rejects the callers that waited for it; closing goes on regardless.
      await this.sync().catch(() => undefined);
    }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): void {
    if (this.inFlight || this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    let fd: number;
    try {
      // The WAL file exists from the first commit on and stays until the last connection to
      // the database closes, so one descriptor serves the store's lifetime.
      fd = this.fd ??= openSync(this.walFile, 'r');
    } catch (error) {
      for (const waiter of batch) waiter.reject(error);
      return;
    }
    this.inFlight = true;
    this.fsyncFile(fd, (error) => {
      this.inFlight = false;
      for (const waiter of batch) {
        if (error) waiter.reject(error);
        else waiter.resolve();
      }
      this.start();
    });
  }
}
