import { expect } from 'chai';
import { EngineMetrics } from '../engine/metrics';
import { MemoryStore } from '../engine/store/memory';
import { SqliteStore } from '../engine/store/sqlite';

describe('EngineMetrics', function () {
  it('counts webhooks by outcome and reason', async function () {
    const metrics = new EngineMetrics({ processMetrics: false });
    metrics.webhookAccepted('fleet');
    metrics.webhookAccepted('fleet');
    metrics.webhookRejected('fleet', 'invalid_json');
    metrics.webhookRejected('', 'webhook_not_found');
    const text = await metrics.render();
    expect(text).to.include('engine_webhooks_accepted_total{story="fleet"} 2');
    const rejected = 'engine_webhooks_rejected_total';
    expect(text).to.include(`${rejected}{story="fleet",reason="invalid_json"} 1`);
    expect(text).to.include(`${rejected}{story="",reason="webhook_not_found"} 1`);
  });

  it('records actions, durations and retries', async function () {
    const metrics = new EngineMetrics({ processMetrics: false });
    metrics.actionFinished('fleet', 'http_request', 'retry', 0.2);
    metrics.actionFinished('fleet', 'http_request', 'emitted', 0.03);
    metrics.runFinished('fleet', 'succeeded');
    const text = await metrics.render();
    expect(text).to.include(
      'engine_actions_total{story="fleet",action_type="http_request",outcome="emitted"} 1',
    );
    expect(text).to.include(
      'engine_actions_total{story="fleet",action_type="http_request",outcome="retry"} 1',
    );
    const bucket = 'engine_action_duration_seconds_bucket';
    const labels = 'action_type="http_request",outcome="emitted"';
    expect(text).to.include(`${bucket}{le="0.05",${labels}} 1`);
    expect(text).to.include(`${bucket}{le="0.025",${labels}} 0`);
    expect(text).to.include(
      'engine_action_retries_total{story="fleet",action_type="http_request"} 1',
    );
    expect(text).to.include('engine_runs_finished_total{story="fleet",status="succeeded"} 1');
  });

  it('reads the queue depth from the store', async function () {
    const store = new MemoryStore();
    await store.open();
    const item = {
      runId: '',
      story: 'fleet',
      action: 'hook',
      parentEventId: null,
      input: {},
      lineage: {},
      availableAt: Date.now(),
    };
    await store.createRun({ story: 'fleet', storyName: 'Fleet' }, item);
    await store.createRun({ story: 'fleet', storyName: 'Fleet' }, item);
    const text = await new EngineMetrics({ store, processMetrics: false }).render();
    expect(text).to.include('engine_queue_depth 2');
    expect(text).to.include('engine_store_up 1');
  });

  it('reports a store it cannot read', async function () {
    const store = new SqliteStore(':memory:');
    const text = await new EngineMetrics({ store, processMetrics: false }).render();
    // prom-client 15 writes NaN as `Nan`; Prometheus parses floats case-insensitively.
    expect(text).to.match(/^engine_queue_depth nan$/im);
    expect(text).to.include('engine_store_up 0');
  });

  it('exports process metrics by default', async function () {
    const text = await new EngineMetrics().render();
    expect(text).to.include('process_cpu_user_seconds_total');
    expect(text).to.include('nodejs_eventloop_lag_seconds');
  });
});
