import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { openStore, redactUrl, storeFor } from '../../engine/store';
import { MemoryStore } from '../../engine/store/memory';
import { SqliteStore } from '../../engine/store/sqlite';

describe('openStore', function () {
  let directory: string;

  beforeEach(function () {
    directory = mkdtempSync(join(tmpdir(), 'story-engine-open-'));
  });

  afterEach(function () {
    rmSync(directory, { recursive: true, force: true });
  });

  it('defaults to .engine/engine.db beside the stories', async function () {
    const store = await openStore(undefined, directory);
    expect(store).to.be.instanceOf(SqliteStore);
    expect((store as SqliteStore).file).to.equal(join(directory, '.engine', 'engine.db'));
    expect(existsSync(join(directory, '.engine', 'engine.db'))).to.equal(true);
    await store.close();
  });

  it('opens a SQLite file given by path', async function () {
    const file = join(directory, 'custom', 'runs.db');
    const store = await openStore(file, '/nonexistent-stories');
    expect((store as SqliteStore).file).to.equal(file);
    expect(existsSync(file)).to.equal(true);
    await store.close();
  });

  it('resolves a relative path from the working directory', function () {
    const store = storeFor('data/engine.db', directory);
    expect((store as SqliteStore).file).to.equal(resolve('data/engine.db'));
  });

  it('opens the memory store for "memory"', async function () {
    const store = await openStore('memory', directory);
    expect(store).to.be.instanceOf(MemoryStore);
    await store.close();
  });

  it('rejects an empty value', function () {
    expect(() => storeFor('', directory)).to.throw(
      'invalid --db value "": expected a SQLite file path, "memory" or a postgres:// URL',
    );
  });

  it('rejects an unknown URL scheme', function () {
    expect(() => storeFor('mysql://root:pw@127.0.0.1/db', directory)).to.throw(
      'invalid --db value "mysql://root:***@127.0.0.1/db": unsupported URL scheme',
    );
  });

  it('hides the password of a URL', function () {
    expect(redactUrl('postgres://engine:secret@127.0.0.1:5432/test')).to.equal(
      'postgres://engine:***@127.0.0.1:5432/test',
    );
    expect(redactUrl('postgres://127.0.0.1/test')).to.equal('postgres://127.0.0.1/test');
  });
});
