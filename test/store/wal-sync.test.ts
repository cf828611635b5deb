import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { WalSync } from '../../engine/store/wal-sync';

type Callback = (error: NodeJS.ErrnoException | null) => void;

/** An fsync stand-in that keeps each callback until the test calls it. */
function pausedFsync(): { calls: Callback[]; fsync: (fd: number, callback: Callback) => void } {
  const calls: Callback[] = [];
  return { calls, fsync: (_fd, callback) => calls.push(callback) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('WalSync', function () {
  let directory: string;
  let walFile: string;

  beforeEach(function () {
    directory = mkdtempSync(join(tmpdir(), 'story-engine-wal-'));
    walFile = join(directory, 'engine.db-wal');
    writeFileSync(walFile, 'frames');
  });

  afterEach(function () {
    rmSync(directory, { recursive: true, force: true });
  });

  it('resolves only after the fsync ends', async function () {
    const paused = pausedFsync();
    const wal = new WalSync(walFile, paused.fsync);
    let synced = false;
    const done = wal.sync().then(() => {
      synced = true;
    });
    await tick();
    expect(paused.calls).to.have.length(1);
    expect(synced, 'resolved before the fsync ended').to.equal(false);
    paused.calls[0](null);
    await done;
    expect(synced).to.equal(true);
    await wal.close();
  });

  it('gives calls during an fsync the next one', async function () {
    const paused = pausedFsync();
    const wal = new WalSync(walFile, paused.fsync);
    const first = wal.sync();
    let laterSynced = false;
    const later = [wal.sync(), wal.sync()].map((promise) =>
      promise.then(() => {
        laterSynced = true;
      }),
    );
    expect(paused.calls).to.have.length(1);
    paused.calls[0](null);
    await first;
    await tick();
    expect(laterSynced, 'a call made during an fsync was resolved by it').to.equal(false);
    expect(paused.calls, 'the waiting calls share one fsync').to.have.length(2);
    paused.calls[1](null);
    await Promise.all(later);
    await wal.close();
  });

  it('rejects the waiting calls when fsync fails', async function () {
    const paused = pausedFsync();
    const wal = new WalSync(walFile, paused.fsync);
    const result = wal.sync().then(
      () => 'resolved',
      (error: Error) => error.message,
    );
    paused.calls[0](Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    expect(await result).to.equal('EIO: i/o error, fsync');
    await wal.close();
  });

  it('rejects when the WAL file is missing', async function () {
    const wal = new WalSync(join(directory, 'missing.db-wal'));
    let caught: unknown;
    try {
      await wal.sync();
    } catch (error) {
      caught = error;
    }
    expect((caught as NodeJS.ErrnoException).code).to.equal('ENOENT');
    await wal.close();
  });

  it('fsyncs a real file', async function () {
    const wal = new WalSync(walFile);
    await wal.sync();
    await wal.close();
  });
});
