/**
 * Table of bad inputs across the engine: webhook requests, story files and run-time values.
 * Each row asserts the status or load error and its message, and that nothing was stored for a
 * rejected request.
 */
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { expect } from 'chai';
import { loadStoriesOrThrow, loadStory } from '../../engine/loader';
import { createLogger } from '../../engine/logger';
import { Runner } from '../../engine/runner';
import { createApp, listen, type StartedServer } from '../../engine/server';
import { MemoryStore } from '../../engine/store/memory';
import type { EventRecord } from '../../engine/types';
import { storyFile } from '../helpers/engine';

const HOOK_SECRET = 'hook-secret-9f8e7d';
const SIGNING_KEY = 'signing-key-1a2b3c';
const ENV = { SEC_HOOK_SECRET: HOOK_SECRET, SEC_SIGNING_KEY: SIGNING_KEY, SEC_API_TOKEN: 'api-token-55aa' };

const STORY = `name: Security table
path: secure
credentials:
  hook_secret: { env: SEC_HOOK_SECRET }
  signing_key: { env: SEC_SIGNING_KEY }
  api_token: { env: SEC_API_TOKEN }
actions:
  - { name: plain, type: webhook, path: plain, max_body_bytes: 1024 }
  - name: by_path
    type: webhook
    path: bypath
    secret: { credential: hook_secret }
  - name: by_header
    type: webhook
    path: byheader
    secret: { credential: hook_secret, header: X-Webhook-Secret }
  - name: signed
    type: webhook
    path: signed
    signature: { credential: signing_key, header: X-Signature-256 }
  - name: timed
    type: webhook
    path: timed
    signature: { credential: signing_key, header: X-Signature, timestamp_header: X-Timestamp, tolerance_seconds: 3600 }
  - { name: loop_hook, type: webhook, path: loop }
  - name: runaway
    type: trigger
    after: loop_hook
    when: '($f := function($n){ $n + $f($n + 1) }; $f(0)) > 0'
  - { name: fetch_hook, type: webhook, path: fetch }
  - name: fetch
    type: http_request
    after: fetch_hook
    url: "=fetch_hook.body.url"
    headers: { Authorization: "Bearer {{credentials.api_token}}" }
`;

interface Answer {
  status: number;
  code: string | undefined;
  message: string | undefined;
}

function sign(payload: string): string {
  return createHmac('sha256', SIGNING_KEY).update(payload).digest('hex');
}

describe('bad input table', () => {
  let server: StartedServer;
  let runner: Runner;
  let store: MemoryStore;
  const logs: string[] = [];

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger('debug', sink);
    store = new MemoryStore();
    await store.open();
    runner = new Runner({ stories: loadStoriesOrThrow([storyFile(STORY)]), store, logger, env: ENV, pollMs: 20 });
    server = await listen(createApp({ runner, logger }), '127.0.0.1', 0);
    runner.start();
  });

  after(async () => {
    await server.close();
    await runner.stop();
    await store.close();
  });

  async function send(path: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Answer> {
    const response = await fetch(`${server.url}${path}`, { method: init.method ?? 'POST', headers: init.headers, body: init.body });
    const text = await response.text();
    let parsed: { error?: { code?: string; message?: string } } = {};
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      // A 201 response carries {run_id}, and error responses are JSON too.
    }
    return { status: response.status, code: parsed.error?.code, message: parsed.error?.message };
  }

  const json = { 'content-type': 'application/json' };
  const bomb = zlib.gzipSync(Buffer.alloc(512 * 1024, 0x20));
  const now = Math.floor(Date.now() / 1000);
  const signedBody = '{"host_id":7}';

  type Row = [name: string, path: string, init: Parameters<typeof send>[1], status: number, code?: string, message?: RegExp];
  const rows: Row[] = [
    ['unknown path', '/webhook/secure/nope', { headers: json, body: '{}' }, 404, 'webhook_not_found', /^no webhook is hosted at \/webhook\/secure\/nope$/],
    ['unknown story', '/webhook/other/plain', { headers: json, body: '{}' }, 404, 'webhook_not_found', /no webhook is hosted/],
    ['wrong verb', '/webhook/secure/plain', { method: 'PUT', headers: json, body: '{}' }, 405, 'method_not_allowed', /^PUT is not accepted here; use POST$/],
    ['malformed JSON', '/webhook/secure/plain', { headers: json, body: '{"a":}' }, 400, 'invalid_json', /at line 1, column 6 \(offset 5\): unexpected "}", expected a value\.$/],
    ['truncated JSON', '/webhook/secure/plain', { headers: json, body: '{"a":[1,2' }, 400, 'invalid_json', /unexpected end of input, expected "," or "]"/],
    ['trailing comma', '/webhook/secure/plain', { headers: json, body: '[1,]' }, 400, 'invalid_json', /column 4 .*expected a value/],
    ['single quotes', '/webhook/secure/plain', { headers: json, body: "{'a':1}" }, 400, 'invalid_json', /expected a property name in double quotes/],
    ['multi-line JSON error', '/webhook/secure/plain', { headers: json, body: '{\n"a": 1\n"b": 2}' }, 400, 'invalid_json', /at line 3, column 1/],
    ['too large by length', '/webhook/secure/plain', { headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(2000) }, 413, 'payload_too_large', /accepts at most 1024 bytes \(Content-Length is 2000 bytes\)/],
    ['gzip bomb', '/webhook/secure/plain', { headers: { ...json, 'content-encoding': 'gzip' }, body: bomb }, 413, 'payload_too_large', /the gzip body inflates past the limit/],
    ['corrupt gzip', '/webhook/secure/plain', { headers: { ...json, 'content-encoding': 'gzip' }, body: 'plain text' }, 400, 'invalid_encoding', /not valid gzip data/],
    ['unknown encoding', '/webhook/secure/plain', { headers: { ...json, 'content-encoding': 'compress' }, body: 'x' }, 415, 'unsupported_encoding', /"compress" is not supported/],
    ['XML body', '/webhook/secure/plain', { headers: { 'content-type': 'application/xml' }, body: '<a/>' }, 415, 'unsupported_media_type', /"application\/xml" is not supported/],
    ['body without type', '/webhook/secure/plain', { headers: { 'content-type': '' }, body: '{}' }, 415, 'unsupported_media_type', /no Content-Type/],
    ['unknown charset', '/webhook/secure/plain', { headers: { 'content-type': 'application/json; charset=ebcdic-x' }, body: '{}' }, 415, 'unsupported_charset', /charset "ebcdic-x" is not supported/],
    ['invalid UTF-8', '/webhook/secure/plain', { headers: json, body: Buffer.from([0x22, 0xc3, 0x28, 0x22]) }, 400, 'invalid_charset', /not valid utf-8/],
    ['JSON nested too deep', '/webhook/secure/plain', { headers: json, body: '['.repeat(500) }, 400, 'json_too_deep', /deeper than 64 levels/],
    ['path secret missing', '/webhook/secure/bypath', { headers: json, body: '{}' }, 401, 'unauthorized', /^The webhook credentials are missing or invalid\.$/],
    ['path secret wrong', '/webhook/secure/bypath/guess', { headers: json, body: '{}' }, 401, 'unauthorized', /^The webhook credentials are missing or invalid\.$/],
    ['header secret missing', '/webhook/secure/byheader', { headers: json, body: '{}' }, 401, 'unauthorized', /missing or invalid/],
    ['header secret wrong', '/webhook/secure/byheader', { headers: { ...json, 'x-webhook-secret': 'guess' }, body: '{}' }, 401, 'unauthorized', /missing or invalid/],
    ['header secret in path', `/webhook/secure/byheader/${HOOK_SECRET}`, { headers: json, body: '{}' }, 404, 'webhook_not_found', /no webhook is hosted at/],
    ['signature missing', '/webhook/secure/signed', { headers: json, body: signedBody }, 401, 'unauthorized', /missing or invalid/],
    ['signature wrong', '/webhook/secure/signed', { headers: { ...json, 'x-signature-256': `sha256=${'0'.repeat(64)}` }, body: signedBody }, 401, 'unauthorized', /missing or invalid/],
    ['signature of other body', '/webhook/secure/signed', { headers: { ...json, 'x-signature-256': `sha256=${sign('{}')}` }, body: signedBody }, 401, 'unauthorized', /missing or invalid/],
    ['signature wrong prefix', '/webhook/secure/signed', { headers: { ...json, 'x-signature-256': `sha1=${sign(signedBody)}` }, body: signedBody }, 401, 'unauthorized', /missing or invalid/],
    ['timestamp stale', '/webhook/secure/timed', { headers: { ...json, 'x-timestamp': String(now - 7200), 'x-signature': `sha256=${sign(`${now - 7200}.${signedBody}`)}` }, body: signedBody }, 401, 'unauthorized', /missing or invalid/],
    ['timestamp not bound', '/webhook/secure/timed', { headers: { ...json, 'x-timestamp': String(now), 'x-signature': `sha256=${sign(signedBody)}` }, body: signedBody }, 401, 'unauthorized', /missing or invalid/],
  ];

  for (const [name, path, init, status, code, message] of rows) {
    it(`rejects ${name}`, async () => {
      const runsBefore = (await store.listRuns({})).length;
      const answer = await send(path, init);
      expect(answer.status, 'status').to.equal(status);
      if (code !== undefined) expect(answer.code, 'code').to.equal(code);
      if (message !== undefined) expect(answer.message, 'message').to.match(message);
      expect((await store.listRuns({})).length, 'runs stored').to.equal(runsBefore);
    });
  }

  const accepted: Array<[name: string, path: string, init: Parameters<typeof send>[1]]> = [
    ['empty JSON body', '/webhook/secure/plain', { headers: json, body: '' }],
    ['form body', '/webhook/secure/plain', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&a=2' }],
    ['text body', '/webhook/secure/plain', { headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'hello' }],
    ['vendor JSON type', '/webhook/secure/plain', { headers: { 'content-type': 'application/vnd.fleet+json' }, body: '{}' }],
    ['gzip JSON', '/webhook/secure/plain', { headers: { ...json, 'content-encoding': 'gzip' }, body: zlib.gzipSync('{"a":1}') }],
    ['path secret', `/webhook/secure/bypath/${HOOK_SECRET}`, { headers: json, body: '{}' }],
    ['header secret', '/webhook/secure/byheader', { headers: { ...json, 'x-webhook-secret': HOOK_SECRET }, body: '{}' }],
    ['signature', '/webhook/secure/signed', { headers: { ...json, 'x-signature-256': `sha256=${sign(signedBody)}` }, body: signedBody }],
    ['timestamped signature', '/webhook/secure/timed', { headers: { ...json, 'x-timestamp': String(now), 'x-signature': `sha256=${sign(`${now}.${signedBody}`)}` }, body: signedBody }],
  ];

  for (const [name, path, init] of accepted) {
    it(`accepts ${name}`, async () => {
      const answer = await send(path, init);
      expect(answer.status).to.equal(201);
    });
  }

  it('stores no webhook credential', async () => {
    const events = await allEvents();
    const text = JSON.stringify(events);
    expect(text).to.not.include(HOOK_SECRET);
    expect(text).to.include('"x-webhook-secret":"[REDACTED]"');
    expect(text).to.include('"path":"/webhook/secure/bypath"');
  });

  it('logs the reason of a failed authentication', () => {
    const lines = logs.filter((line) => line.includes('webhook authentication failed'));
    expect(lines.length).to.be.greaterThan(0);
    expect(lines.join('\n')).to.not.include(HOOK_SECRET);
  });

  async function allEvents(): Promise<EventRecord[]> {
    const runs = await store.listRuns({});
    const lists = await Promise.all(runs.map((run) => store.listEvents(run.id)));
    return lists.flat();
  }

  async function runThrough(path: string, body: unknown): Promise<EventRecord[]> {
    const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    const { run_id: runId } = (await response.json()) as { run_id: string };
    await runner.waitForRun(runId);
    return store.listEvents(runId);
  }

  it('fails a runaway expression with its limit', async () => {
    const events = await runThrough('/webhook/secure/loop', {});
    const failed = events.find((event) => event.status === 'failed');
    expect(failed?.action).to.equal('runaway');
    expect(failed?.error).to.match(/^runaway: Expression nested deeper than maxDepth 1000 steps/);
  });

  const outbound: Array<[name: string, url: string, message: RegExp]> = [
    ['loopback request', 'http://127.0.0.1:9/x', /rejected: it is a loopback address; set allow_private_networks: true in the story/],
    ['metadata request', 'http://169.254.169.254/latest/meta-data/', /rejected: it is a cloud metadata address; requests to metadata/],
    ['mapped metadata request', 'http://[::ffff:169.254.169.254]/', /rejected: it is a cloud metadata address/],
    ['private request', 'http://10.1.2.3/x', /rejected: it is a private network address/],
    ['localhost request', 'http://localhost:9/x', /"localhost" \(resolved to .*\) rejected: it is a loopback address/],
    ['non-http URL', 'file:///etc/passwd', /url must be an absolute http\(s\) URL, got "file:\/\/\/etc\/passwd"/],
  ];

  for (const [name, url, message] of outbound) {
    it(`fails a ${name}`, async () => {
      const events = await runThrough('/webhook/secure/fetch', { url });
      const failed = events.find((event) => event.status === 'failed');
      expect(failed?.action).to.equal('fetch');
      expect(failed?.error).to.match(message);
    });
  }
});

describe('bad story table', () => {
  function problemsOf(yaml: string): string[] {
    return loadStory(storyFile(yaml)).problems.map(
      (problem) => `${problem.position?.line}:${problem.position?.col} ${problem.field}: ${problem.message}`,
    );
  }

  const hook = 'actions:\n  - { name: a, type: webhook, path: x }\n';
  const rows: Array<[name: string, yaml: string, expected: string]> = [
    ['duplicate key', `${hook}name: one\nname: two\n`, '4:1 : duplicate key "name"; a key may appear once per mapping, so remove or rename one'],
    [
      'alias bomb',
      'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n' + hook,
      '1:1 : invalid YAML: more than 100 alias expansions (*name uses), as in a resource exhaustion attack; write the repeated values out or use fewer aliases',
    ],
    ['octal-looking path', `path: 0777\n${hook}`, '1:7 path: must be string (got number 777); YAML reads 0777 as the number 777, dropping the leading zero, so quote it if you meant text: "0777"'],
    ['version-like name', `name: 14.10\n${hook}`, '1:7 name: must be string (got number 14.1); YAML reads 14.10 as the number 14.1, so quote it if you meant text: "14.10"'],
    ['yes for a boolean', `allow_private_networks: yes\n${hook}`, '1:25 allow_private_networks: must be boolean (got "yes"); YAML 1.2 reads yes as the text "yes", not a boolean (YAML 1.1 did), so write true'],
    [
      'YAML 1.1 on',
      '%YAML 1.1\n---\nactions:\n  - name: a\n    type: webhook\n    path: on\n',
      '6:11 actions[0].path: must be string (got boolean true); YAML reads unquoted on as the boolean true, so quote it if you meant text: "on"',
    ],
    [
      'YAML 1.1 time',
      `%YAML 1.1\n---\ndescription: 12:30\n${hook}`,
      '3:14 description: must be string (got number 750); YAML 1.1 reads 12:30 as the base-60 number 750, so quote it if you meant text: "12:30"',
    ],
    [
      'underscored number',
      'actions:\n  - name: a\n    type: webhook\n    path: x\n    max_body_bytes: 1_000\n',
      '5:21 actions[0].max_body_bytes: must be integer (got "1_000"); YAML 1.2 reads 1_000 as text because of the underscores, so write 1000',
    ],
    [
      'unknown HMAC algorithm',
      'actions:\n  - name: a\n    type: webhook\n    path: x\n    signature: { credential: k, header: X-Sig, algorithm: md5 }\n',
      '5:59 actions[0].signature.algorithm: must be one of sha1, sha256, sha384, sha512 (got "md5")',
    ],
    [
      'secret without credential',
      'actions:\n  - name: a\n    type: webhook\n    path: x\n    secret: { header: X-S }\n',
      '5:13 actions[0].secret: missing required field "credential"',
    ],
    [
      'secret written inline',
      'actions:\n  - name: a\n    type: webhook\n    path: x\n    secret: hunter2\n',
      '5:13 actions[0].secret: must be object (got "hunter2")',
    ],
  ];

  for (const [name, yaml, expected] of rows) {
    it(`reports ${name}`, () => {
      expect(problemsOf(yaml)).to.deep.equal([expected]);
    });
  }

  it('reports a story over the size limit', () => {
    const file = storyFile(hook);
    writeFileSync(file, `# ${'x'.repeat(1024 * 1024)}\n${hook}`);
    const messages = loadStory(file).problems.map((problem) => problem.message);
    expect(messages).to.have.length(1);
    expect(messages[0]).to.match(/^story is \d+ bytes; the limit is 1048576 bytes$/);
  });

  it('reports an undeclared webhook credential', () => {
    const yaml = 'actions:\n  - name: a\n    type: webhook\n    path: x\n    secret: { credential: nope }\n';
    const stories = loadStoriesOrThrow([storyFile(yaml)]);
    const create = () => new Runner({ stories, store: new MemoryStore(), logger: createLogger('silent'), env: {} });
    expect(create).to.throw(/a: secret\.credential is "nope", which is not a credential of the story \(declared: none\); add it under credentials:/);
  });
});
