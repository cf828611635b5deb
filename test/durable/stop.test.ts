import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DEFAULT_TOKEN, startFakeFleet, type FakeFleet } from '../../fake-fleet/server';
import { SqliteStore } from '../../engine/store/sqlite';
import type { Json } from '../../engine/types';
import { startEngine, storyFile } from '../helpers/engine';
import { addHosts, calendarBody, fleetStory, postWebhook } from './fleet';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('runner stop and restart', function () {
  let fleet: FakeFleet;
  let directory: string;
  let store: SqliteStore;
  let story: string;
  let env: Record<string, string>;
  let hostId: number;

  beforeEach(async function () {
    fleet = await startFakeFleet();
    [hostId] = addHosts(fleet, 1);
    env = { FLEET_URL: fleet.url, FLEET_API_TOKEN: DEFAULT_TOKEN };
    directory = mkdtempSync(join(tmpdir(), 'story-engine-stop-'));
    store = new SqliteStore(join(directory, 'engine.db'));
    story = storyFile(fleetStory({ getRetry: '{ attempts: 3, backoff: 0.02 }' }));
  });

  afterEach(async function () {
    await store.close();
    await fleet.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('releases an action past the stop timeout', async function () {
    fleet.injectFault({ route: 'hosts/:id', method: 'GET', delayMs: 250 });
    const first = await startEngine([story], { store, env });
    const answer = await postWebhook(first.url, hostId);
    while (fleet.requests.length === 0) await sleep(10);
    await first.server.close();
    await first.runner.stop(20);

    const runId = answer.runId as string;
    expect((await store.getRun(runId))?.status).to.equal('running');
    const attempts = await store.listAttempts(runId);
    expect(attempts.map((attempt) => [attempt.action, attempt.outcome])).to.deep.equal([
      ['get_host', 'released'],
    ]);

    const second = await startEngine([story], { store, env });
    const run = await second.runner.waitForRun(runId);
    await second.server.close();
    await second.runner.stop();
    expect(run.status).to.equal('succeeded');
    expect(fleet.commands).to.have.length(1);
  });

  it('fails an item interrupted too often', async function () {
    await store.open();
    const request = { method: 'POST', body: calendarBody(hostId) as Json };
    const run = await store.createRun(
      { story: 'fleet', storyName: 'Fleet OS update' },
      {
        runId: '',
        story: 'fleet',
        action: 'get_host',
        parentEventId: null,
        input: request,
        lineage: { calendar_webhook: request, os_policy_failing: request },
        availableAt: Date.now(),
      },
    );
    // Six recorded attempts, as if the engine had crashed during each of them.
    const [item] = await store.claim('worker-crashed', 1, 60_000);
    await store.recordAttempt({ ...item, attempt: 6 });
    await store.release([item]);

    const engine = await startEngine([story], { store, env });
    const finished = await engine.runner.waitForRun(run.id);
    await engine.server.close();
    await engine.runner.stop();
    expect(finished.status).to.equal('failed');
    expect(finished.error).to.equal(
      'get_host: gave up after 6 attempts, the last ones interrupted by an engine stop or crash',
    );
    expect(fleet.requests).to.have.length(0);
  });
});
