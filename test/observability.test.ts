import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { DEFAULT_TOKEN, startFakeFleet, type FakeFleet } from '../fake-fleet/server';
import { loadStoriesOrThrow } from '../engine/loader';
import { createLogger } from '../engine/logger';
import { EngineMetrics } from '../engine/metrics';
import { Runner } from '../engine/runner';
import { createApp, listen, type StartedServer } from '../engine/server';
import { MemoryStore } from '../engine/store/memory';
import { SqliteStore } from '../engine/store/sqlite';
import type { Store } from '../engine/store/types';

const FLEET_STORY = path.resolve(__dirname, '../../stories/fleet-os-update.yaml');

const CALENDAR_EVENT = {
  timestamp: '2024-03-28T13:57:31.668954-05:00',
  host_id: 11058,
  host_display_name: 'Test Virtual Machine',
  host_serial_number: 'Z5C4L7GKY0',
  failing_policies: [{ id: 479, name: 'macOS - OS version up to date' }],
};

interface Engine {
  url: string;
  runner: Runner;
  server: StartedServer;
  lines: string[];
  stop(): Promise<void>;
}

/** Starts the Fleet story in-process with metrics and the engine's own logger at debug. */
async function startEngine(store: Store, fleet: FakeFleet): Promise<Engine> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger('debug', sink);
  await store.open();
  const metrics = new EngineMetrics({ store });
  const runner = new Runner({
    stories: loadStoriesOrThrow([FLEET_STORY]),
    store,
    logger,
    metrics,
    pollMs: 20,
    env: { FLEET_URL: fleet.url, FLEET_API_TOKEN: DEFAULT_TOKEN },
  });
  const server = await listen(createApp({ runner, logger, metrics }), '127.0.0.1', 0);
  runner.start();
  return {
    url: server.url,
    runner,
    server,
    lines,
    stop: async () => {
      await server.close();
      await runner.stop();
      await store.close();
    },
  };
}

function post(url: string, body: string): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

describe('observability', function () {
  let fleet: FakeFleet;
  let engine: Engine;
  let metricsText: string;
  let metricsType: string | null;

  before(async function () {
    // One 503 with Retry-After: 0 makes one host lookup run again at once.
    fleet = await startFakeFleet({
      faults: [{ route: 'hosts/:id', method: 'GET', status: 503, retryAfter: 0 }],
    });
    engine = await startEngine(new MemoryStore(), fleet);
    const calendar = `${engine.url}/webhook/fleet/calendar`;
    const runIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await post(calendar, JSON.stringify(CALENDAR_EVENT));
      runIds.push(((await response.json()) as { run_id: string }).run_id);
    }
    await post(calendar, '{"host_id": ');
    await post(`${engine.url}/webhook/fleet/nowhere`, '{}');
    for (const runId of runIds) await engine.runner.waitForRun(runId);

    const response = await fetch(`${engine.url}/metrics`);
    metricsText = await response.text();
    metricsType = response.headers.get('content-type');
  });

  after(async function () {
    await engine?.stop();
    await fleet?.close();
  });

  describe('/metrics', function () {
    it('uses the Prometheus text format', function () {
      expect(metricsType).to.match(/^text\/plain; version=0\.0\.4/);
      expect(metricsText).to.include('# TYPE engine_actions_total counter');
    });

    it('counts accepted and rejected webhooks', function () {
      expect(metricsText).to.include('engine_webhooks_accepted_total{story="fleet"} 3');
      expect(metricsText).to.include(
        'engine_webhooks_rejected_total{story="fleet",reason="invalid_json"} 1',
      );
      expect(metricsText).to.include(
        'engine_webhooks_rejected_total{story="",reason="webhook_not_found"} 1',
      );
    });

    it('counts actions by type and outcome', function () {
      const actions = 'engine_actions_total{story="fleet"';
      expect(metricsText).to.include(`${actions},action_type="webhook",outcome="emitted"} 3`);
      // Each event passes os_policy_failing and is dropped by webhook_error.
      expect(metricsText).to.include(`${actions},action_type="trigger",outcome="emitted"} 3`);
      expect(metricsText).to.include(`${actions},action_type="trigger",outcome="skipped"} 3`);
      expect(metricsText).to.include(`${actions},action_type="http_request",outcome="emitted"} 6`);
      expect(metricsText).to.include(`${actions},action_type="http_request",outcome="retry"} 1`);
      expect(metricsText).to.include(`${actions},action_type="transform",outcome="emitted"} 6`);
    });

    it('records action durations', function () {
      expect(metricsText).to.include(
        'engine_action_duration_seconds_count{action_type="http_request",outcome="emitted"} 6',
      );
      expect(metricsText).to.include(
        'engine_action_duration_seconds_bucket{le="+Inf",action_type="http_request",outcome="emitted"} 6',
      );
    });

    it('counts retries', function () {
      expect(metricsText).to.include(
        'engine_action_retries_total{story="fleet",action_type="http_request"} 1',
      );
    });

    it('reports the queue depth and finished runs', function () {
      expect(metricsText).to.match(/^engine_queue_depth 0$/m);
      expect(metricsText).to.match(/^engine_store_up 1$/m);
      expect(metricsText).to.include('engine_runs_finished_total{story="fleet",status="succeeded"} 3');
    });
  });

  describe('/healthz', function () {
    it('reports a healthy engine', async function () {
      const response = await fetch(`${engine.url}/healthz`);
      expect(response.status).to.equal(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body.status).to.equal('ok');
      expect(body.store).to.equal('ok');
      expect(body.worker).to.equal('running');
    });

    it('answers 503 when the store is unreachable', async function () {
      const directory = mkdtempSync(path.join(os.tmpdir(), 'story-engine-health-'));
      const store = new SqliteStore(path.join(directory, 'engine.db'));
      const broken = await startEngine(store, fleet);
      try {
        await store.close();
        const response = await fetch(`${broken.url}/healthz`);
        expect(response.status).to.equal(503);
        const body = (await response.json()) as Record<string, unknown>;
        expect(body.status).to.equal('unavailable');
        expect(body.store).to.equal('unreachable');
        expect(body.storeError).to.include('is not open');
        expect(broken.lines.join('\n')).to.include('health check failed');
      } finally {
        await broken.server.close();
        await broken.runner.stop();
        rmSync(directory, { recursive: true, force: true });
      }
    });

    it('answers 503 when the worker stopped', async function () {
      const stopped = await startEngine(new MemoryStore(), fleet);
      try {
        await stopped.runner.stop();
        const response = await fetch(`${stopped.url}/healthz`);
        expect(response.status).to.equal(503);
        const body = (await response.json()) as Record<string, unknown>;
        expect(body.store).to.equal('ok');
        expect(body.worker).to.equal('stopped');
      } finally {
        await stopped.stop();
      }
    });
  });

  describe('logs', function () {
    it('are JSON lines', function () {
      expect(engine.lines.length).to.be.greaterThan(0);
      for (const line of engine.lines) expect(() => JSON.parse(line), line).not.to.throw();
    });

    it('name run, event, story and action for each action', function () {
      const finished = engine.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((entry) => entry.msg === 'action finished');
      // 3 runs of 7 actions (webhook, 2 triggers, 2 HTTP requests, 2 transforms) and 1 retry.
      expect(finished).to.have.length(22);
      for (const entry of finished) {
        expect(entry.runId, JSON.stringify(entry)).to.be.a('string');
        expect(entry, JSON.stringify(entry)).to.have.property('eventId');
        expect(entry.story, JSON.stringify(entry)).to.equal('fleet');
        expect(entry.action, JSON.stringify(entry)).to.be.a('string');
        expect(entry.workerId, JSON.stringify(entry)).to.be.a('string');
        expect(entry.outcome, JSON.stringify(entry)).to.be.oneOf(['emitted', 'skipped', 'retry']);
        expect(entry.durationMs, JSON.stringify(entry)).to.be.a('number');
      }
      const withEvent = finished.filter((entry) => entry.action !== 'calendar_webhook');
      for (const entry of withEvent) expect(entry.eventId, JSON.stringify(entry)).to.be.a('string');
    });

    it('never contain the API token', function () {
      for (const line of engine.lines) expect(line).not.to.include(DEFAULT_TOKEN);
    });
  });
});
