/**
 * Searches every output channel of the engine for a credential in any of its forms: HTTP
 * responses, log lines, stored events, run errors, trails and the command line's output.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { loadStoriesOrThrow } from '../../engine/loader';
import { createLogger } from '../../engine/logger';
import { Runner } from '../../engine/runner';
import { createApp, listen, type StartedServer } from '../../engine/server';
import { MemoryStore } from '../../engine/store/memory';
import { formatTrail } from '../../engine/trail';
import { storyFile } from '../helpers/engine';
import { startUpstream, type Upstream } from '../helpers/upstream';

const TOKEN = 'tok/en+secret==42-leaky';
const CLI = path.join(__dirname, '..', '..', 'engine', 'cli.js');

/** Every form in which the token could leak. */
const FORMS: Record<string, string> = {
  plain: TOKEN,
  'URL-encoded': encodeURIComponent(TOKEN),
  'form-encoded': new URLSearchParams({ t: TOKEN }).toString().slice(2),
  base64: Buffer.from(TOKEN).toString('base64'),
  base64url: Buffer.from(TOKEN).toString('base64url'),
  'Basic user:token': Buffer.from(`fleet:${TOKEN}`).toString('base64'),
  'Basic token:': Buffer.from(`${TOKEN}:`).toString('base64'),
};

function assertNoToken(channel: string, text: string): void {
  for (const [form, value] of Object.entries(FORMS)) {
    expect(text.includes(value), `${channel} contains the ${form} token`).to.equal(false);
  }
}

function story(upstream: Upstream): string {
  return `name: Leaky
path: leaky
allow_private_networks: true
credentials:
  api_token: { env: LEAKY_API_TOKEN }
actions:
  - { name: hook, type: webhook, path: in }
  - name: call
    type: http_request
    after: hook
    url: "${upstream.url}/items?token={{url_encode credentials.api_token}}"
    headers:
      Authorization: "Bearer {{credentials.api_token}}"
      X-Basic: "Basic {{base64 (json credentials.api_token)}}"
`;
}

describe('redaction of credentials', () => {
  let upstream: Upstream;
  let file: string;

  before(async () => {
    // The upstream echoes the credential back in every form, as a careless API might.
    upstream = await startUpstream((request) => ({
      status: 500,
      body: {
        message: `token ${request.headers.authorization} url ${request.url} b64 ${FORMS.base64} basic ${FORMS['Basic user:token']} ${FORMS['Basic token:']}`,
      },
    }));
    file = storyFile(story(upstream));
  });

  after(async () => {
    await upstream.close();
  });

  describe('in a served engine', () => {
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
      const logger = createLogger('trace', sink);
      store = new MemoryStore();
      await store.open();
      runner = new Runner({ stories: loadStoriesOrThrow([file]), store, logger, env: { LEAKY_API_TOKEN: TOKEN }, pollMs: 20 });
      server = await listen(createApp({ runner, logger }), '127.0.0.1', 0);
      runner.start();
    });

    after(async () => {
      await server.close();
      await runner.stop();
      await store.close();
    });

    it('keeps the token out of every channel', async () => {
      const response = await fetch(`${server.url}/webhook/leaky/in`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ note: `sender pasted ${TOKEN}` }),
      });
      const answer = await response.text();
      expect(response.status).to.equal(201);
      const { run_id: runId } = JSON.parse(answer) as { run_id: string };
      const run = await runner.waitForRun(runId);
      const events = await store.listEvents(runId);

      expect(upstream.requests.length, 'the request reached the upstream').to.be.greaterThan(0);
      expect(upstream.requests[0].headers.authorization).to.equal(`Bearer ${TOKEN}`);
      expect(run.status).to.equal('failed');
      expect(run.error).to.include('[REDACTED]');

      const invalid = await fetch(`${server.url}/webhook/leaky/in`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"token": "${TOKEN}",}`,
      });
      assertNoToken('HTTP response', answer + (await invalid.text()));
      assertNoToken('stored events', JSON.stringify(events));
      assertNoToken('run error', String(run.error));
      assertNoToken('trail', formatTrail(run, events, { payloads: true }));
      assertNoToken('logs', logs.join(''));
      expect(logs.length, 'log lines written').to.be.greaterThan(0);
    });
  });

  it('keeps the token out of command line output', async () => {
    const event = storyFile(JSON.stringify({ note: `pasted ${TOKEN}` }), 'event.json');
    let stdout = '';
    let stderr = '';
    try {
      ({ stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'run', file, '--event', event, '--log-level', 'debug'], {
        env: { ...process.env, LEAKY_API_TOKEN: TOKEN },
      }));
    } catch (error) {
      ({ stdout, stderr } = error as { stdout: string; stderr: string });
    }
    expect(stdout, 'trail printed').to.include('FAIL');
    assertNoToken('CLI stdout', stdout);
    assertNoToken('CLI stderr', stderr);
  });
});
