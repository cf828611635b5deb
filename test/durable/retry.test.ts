import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DEFAULT_TOKEN, startFakeFleet, type FakeFleet } from '../../fake-fleet/server';
import { SqliteStore } from '../../engine/store/sqlite';
import type { RunRecord } from '../../engine/types';
import { startEngine, storyFile, type TestEngine } from '../helpers/engine';
import { addHosts, fleetStory, postWebhook } from './fleet';

describe('http_request retries', function () {
  let fleet: FakeFleet;
  let engine: TestEngine | undefined;
  let store: SqliteStore;
  let directory: string;
  let hostId: number;

  beforeEach(async function () {
    fleet = await startFakeFleet();
    [hostId] = addHosts(fleet, 1);
    directory = mkdtempSync(join(tmpdir(), 'story-engine-retry-'));
    store = new SqliteStore(join(directory, 'engine.db'));
  });

  afterEach(async function () {
    await engine?.stop();
    engine = undefined;
    await fleet.close();
    rmSync(directory, { recursive: true, force: true });
  });

  async function runOnce(story = fleetStory()): Promise<RunRecord> {
    engine = await startEngine([storyFile(story)], {
      store,
      env: { FLEET_URL: fleet.url, FLEET_API_TOKEN: DEFAULT_TOKEN },
    });
    const answer = await postWebhook(engine.url, hostId);
    expect(answer.status).to.equal(201);
    return engine.runner.waitForRun(answer.runId as string);
  }

  const hostRequests = () =>
    fleet.requests.filter((request) => request.path === `/api/v1/fleet/hosts/${hostId}`);

  it('retries a 503 after Retry-After', async function () {
    fleet.injectFault({ route: 'hosts/:id', method: 'GET', status: 503, retryAfter: 1 });
    const run = await runOnce();
    expect(run.status).to.equal('succeeded');
    const [first, second] = hostRequests();
    expect(hostRequests()).to.have.length(2);
    const waited = second.time.getTime() - first.time.getTime();
    expect(waited).to.be.at.least(950);
    expect(fleet.commands).to.have.length(1);

    const attempts = (await store.listAttempts(run.id)).filter((a) => a.action === 'get_host');
    expect(attempts.map((attempt) => attempt.attempt)).to.deep.equal([1, 2]);
    expect(attempts[0].outcome).to.match(/^retry: get_host: GET .* returned 503/);
    expect(attempts[0].outcome).to.contain('(attempt 1 of 3, next in 1000 ms)');
    expect(attempts[1].outcome).to.equal('emitted');
  });

  it('retries a reset connection', async function () {
    fleet.injectFault({ route: 'hosts/:id', method: 'GET', reset: true });
    const run = await runOnce();
    expect(run.status).to.equal('succeeded');
    expect(hostRequests()).to.have.length(2);
    expect(fleet.commands).to.have.length(1);
  });

  it('retries a timed-out request', async function () {
    fleet.injectFault({ route: 'hosts/:id', method: 'GET', delayMs: 1000 });
    const run = await runOnce();
    expect(run.status).to.equal('succeeded');
    const events = await store.listEvents(run.id);
    const getHost = events.find((event) => event.action === 'get_host');
    expect(getHost?.status).to.equal('emitted');
    expect(getHost?.attempt).to.equal(2);
    const attempts = (await store.listAttempts(run.id)).filter((a) => a.action === 'get_host');
    expect(attempts[0].outcome).to.match(/^retry: .*ETIMEDOUT/);
  });

  it('fails the run after the last attempt', async function () {
    fleet.injectFault({ route: 'hosts/:id', method: 'GET', status: 503, times: 10 });
    const run = await runOnce();
    expect(run.status).to.equal('failed');
    expect(run.error).to.match(/^get_host: GET .* returned 503: .*\(gave up after 3 attempts\)$/);
    expect(hostRequests()).to.have.length(3);
    expect(fleet.commands).to.have.length(0);
    const events = await store.listEvents(run.id);
    const failed = events.filter((event) => event.status === 'failed');
    expect(failed.map((event) => event.action)).to.deep.equal(['get_host']);
    expect(failed[0].attempt).to.equal(3);
  });

  it('does not retry POST by default', async function () {
    fleet.injectFault({ route: 'commands/run', method: 'POST', status: 503 });
    const run = await runOnce(fleetStory({ postRetry: '{ attempts: 3, backoff: 0.02 }' }));
    expect(run.status).to.equal('failed');
    expect(run.error).to.contain('(not retried: POST is not in retry.methods)');
    const posts = fleet.requests.filter((request) => request.method === 'POST');
    expect(posts).to.have.length(1);
  });

  it('retries POST when listed in methods', async function () {
    fleet.injectFault({ route: 'commands/run', method: 'POST', status: 503 });
    const run = await runOnce(
      fleetStory({ postRetry: '{ attempts: 3, backoff: 0.02, methods: [POST] }' }),
    );
    expect(run.status).to.equal('succeeded');
    const posts = fleet.requests.filter((request) => request.method === 'POST');
    expect(posts).to.have.length(2);
    expect(fleet.commands).to.have.length(1);
  });

  it('does not retry a 404', async function () {
    const run = await runOnce();
    expect(run.status).to.equal('succeeded');
    fleet.injectFault({ route: 'hosts/:id', method: 'GET', status: 404 });
    const answer = await postWebhook((engine as TestEngine).url, hostId);
    const second = await (engine as TestEngine).runner.waitForRun(answer.runId as string);
    expect(second.status).to.equal('failed');
    expect(second.error).to.match(/^get_host: GET .* returned 404/);
    expect(hostRequests()).to.have.length(2);
  });
});
