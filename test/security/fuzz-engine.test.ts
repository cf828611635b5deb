/**
 * Property tests of the whole engine: random and mutated webhook requests at a served engine,
 * and mutated story files at the loader. No request may crash the process, get a 5xx, or
 * leave an unhandled rejection. Run counts come from FUZZ_RUNS like the module fuzz tests.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { loadStoriesOrThrow, loadStory } from '../../engine/loader';
import { createLogger } from '../../engine/logger';
import { Runner } from '../../engine/runner';
import { createApp, listen, type StartedServer } from '../../engine/server';
import { MemoryStore } from '../../engine/store/memory';
import { storyFile } from '../helpers/engine';
import { fuzzSettings, mutatedJson } from './fuzz-settings';

const FLEET_STORY = path.join(__dirname, '..', '..', '..', 'stories', 'fleet-os-update.yaml');

const STORY = `path: fuzz
credentials:
  hook_secret: { env: FUZZ_HOOK_SECRET }
actions:
  - { name: open, type: webhook, path: open, max_body_bytes: 2048 }
  - name: guarded
    type: webhook
    path: guarded
    secret: { credential: hook_secret, header: X-Secret }
  - name: signed
    type: webhook
    path: signed
    signature: { credential: hook_secret, header: X-Signature }
  - name: check
    type: trigger
    after: open
    when: '$count(open.body.items[name = "x"]) > 0 and open.body.a.b.c != null'
`;

const printable = fc.string({ unit: fc.constantFrom(...'abcxyz019 ;=,/+-_.:*"\'{}[]'.split('')), maxLength: 40 });

describe('fuzz engine', () => {
  let server: StartedServer;
  let runner: Runner;
  let store: MemoryStore;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };

  before(async () => {
    process.on('unhandledRejection', onRejection);
    store = new MemoryStore();
    await store.open();
    const logger = createLogger('silent');
    runner = new Runner({ stories: loadStoriesOrThrow([storyFile(STORY)]), store, logger, env: { FUZZ_HOOK_SECRET: 'fuzz-secret' }, pollMs: 20 });
    server = await listen(createApp({ runner, logger }), '127.0.0.1', 0);
    runner.start();
  });

  after(async () => {
    process.off('unhandledRejection', onRejection);
    await server.close();
    await runner.stop();
    await store.close();
  });

  it('answers random webhook requests without 5xx', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const request = fc.record({
      method: fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE', 'GET'),
      path: fc.constantFrom('open', 'guarded', 'signed', 'open/extra', 'nope', 'open%2F..', 'guarded/fuzz-secret'),
      body: fc.oneof(mutatedJson, fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes)), fc.constant('')),
      contentType: fc.option(fc.oneof(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1'), printable), { nil: undefined }),
      encoding: fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x'), { nil: undefined }),
      secret: fc.option(fc.oneof(printable, fc.constant('fuzz-secret')), { nil: undefined }),
      signature: fc.option(printable.map((text) => `sha256=${text}`), { nil: undefined }),
    });

    await fc.assert(
      fc.asyncProperty(request, async (input) => {
        const headers: Record<string, string> = {};
        if (input.contentType !== undefined) headers['content-type'] = input.contentType;
        if (input.encoding !== undefined) headers['content-encoding'] = input.encoding;
        if (input.secret !== undefined) headers['x-secret'] = input.secret;
        if (input.signature !== undefined) headers['x-signature'] = input.signature;
        const response = await fetch(`${server.url}/webhook/fuzz/${input.path}`, {
          method: input.method,
          headers,
          body: input.method === 'GET' ? undefined : input.body,
        });
        const text = await response.text();
        expect(response.status, text).to.be.oneOf([201, 400, 401, 404, 405, 413, 415]);
        if (response.status !== 201) {
          const parsed = JSON.parse(text) as { error: { message: string } };
          expect(parsed.error.message, 'error message').to.be.a('string').and.not.equal('');
        }
      }),
      { ...fuzzSettings, numRuns: Math.max(20, Math.floor(fuzzSettings.numRuns / 2)) },
    );

    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).to.equal(200);
    expect(rejections).to.deep.equal([]);
    const grownBytes = process.memoryUsage().heapUsed - heapBefore;
    expect(grownBytes, 'heap growth').to.be.lessThan(200 * 1024 * 1024);
  });

  it('loads mutated story files without throwing', () => {
    const original = readFileSync(FLEET_STORY, 'utf8');
    const edit = fc.tuple(fc.nat(), fc.constantFrom('replace', 'insert', 'delete', 'duplicate-line'), fc.constantFrom(...': -"\'&*!|>{}[]#%\n\t0yesno~'.split('')));
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = original;
        for (const [at, kind, char] of edits) {
          const index = at % text.length;
          if (kind === 'replace') text = text.slice(0, index) + char + text.slice(index + 1);
          else if (kind === 'insert') text = text.slice(0, index) + char + text.slice(index);
          else if (kind === 'delete') text = text.slice(0, index) + text.slice(index + 1);
          else {
            const lines = text.split('\n');
            const line = index % lines.length;
            lines.splice(line, 0, lines[line]);
            text = lines.join('\n');
          }
        }
        const result = loadStory(storyFile(text));
        for (const problem of result.problems) {
          expect(problem.message, 'problem message').to.be.a('string').and.not.equal('');
          expect(problem.position?.line ?? 1, 'problem line').to.be.at.least(1);
        }
      }),
      { ...fuzzSettings, numRuns: Math.max(20, Math.floor(fuzzSettings.numRuns / 2)) },
    );
  });
});
