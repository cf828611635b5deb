/**
 * Measures the engine's own CPU cost per Fleet flow, without sockets: the runner accepts runs
 * directly, an in-process transport plays Fleet, and runs live in the memory store. This
 * leaves the runner, the store, expressions, templates and redaction, which a profile of the
 * full benchmark mixes with HTTP parsing and scheduling delay.
 * Usage: node dist/bench/core.js [--flows N] [--rounds N]
 */
import path from 'node:path';
import pino from 'pino';
import { loadStoriesOrThrow } from '../engine/loader';
import { Runner } from '../engine/runner';
import { MemoryStore } from '../engine/store/memory';
import type { HttpRequest, HttpResponse, WebhookRequest } from '../engine/types';

/** Webhooks accepted at once before waiting for their runs. */
const BATCH = 500;

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

/** Returns what bench/fake-fleet.ts returns for the story's two Fleet calls. */
async function fleet(request: HttpRequest): Promise<HttpResponse> {
  const headers = { 'content-type': 'application/json' };
  const host = /\/hosts\/(\d+)/.exec(request.url);
  if (host !== null) {
    const id = Number(host[1]);
    const body = {
      host: {
        id,
        uuid: `uuid-${id}`,
        platform: 'darwin',
        hostname: `bench-${id}.local`,
        display_name: `bench-${id}`,
        hardware_serial: `BENCH${id}`,
        os_version: 'macOS 14.4',
      },
    };
    return { status: 200, headers, body: Buffer.from(JSON.stringify(body)) };
  }
  return { status: 200, headers, body: Buffer.from('{}') };
}

function webhookRequest(hostId: number): WebhookRequest {
  return {
    method: 'POST',
    path: '/webhook/fleet/calendar',
    query: {},
    headers: { 'content-type': 'application/json', host: '127.0.0.1', 'user-agent': 'bench' },
    body: {
      timestamp: '2024-03-28T13:57:31.668954-05:00',
      host_id: hostId,
      host_display_name: `bench-${hostId}`,
      host_serial_number: `BENCH${hostId}`,
      failing_policies: [{ id: 123, name: 'macOS - OS version up to date' }],
    },
    received_at: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  const flows = option('--flows', 20_000);
  const rounds = option('--rounds', 3);
  const story = path.join(__dirname, '..', '..', 'stories', 'fleet-os-update.yaml');
  process.env.FLEET_API_TOKEN ??= 'fake-fleet-token';
  // Keeps every run of a batch, so waitForRun finds each one.
  const store = new MemoryStore({ maxFinishedRuns: 2 * BATCH });
  const runner = new Runner({
    stories: loadStoriesOrThrow([story]),
    store,
    logger: pino({ level: 'info' }, pino.destination('/dev/null')),
    http: fleet,
    maxPending: Number.MAX_SAFE_INTEGER,
  });
  const webhook = runner.webhooks[0];
  runner.start();
  for (let round = 0; round < rounds; round += 1) {
    const before = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let sent = 0; sent < flows; sent += BATCH) {
      const runs = await Promise.all(
        Array.from({ length: Math.min(BATCH, flows - sent) }, (_, index) => runner.accept(webhook, webhookRequest(sent + index))),
      );
      const finished = await Promise.all(runs.map((run) => runner.waitForRun(run.id)));
      const failed = finished.find((run) => run.status !== 'succeeded');
      if (failed) throw new Error(`run ${failed.id} ${failed.status}: ${failed.error ?? ''}`);
    }
    const used = process.cpuUsage(before);
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const cpuUs = (used.user + used.system) / flows;
    console.log(`round ${round + 1}: ${flows} flows, ${cpuUs.toFixed(1)} µs CPU per flow, ${((flows / wallMs) * 1000).toFixed(0)} flows/s, RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB, heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB`);
  }
  await runner.stop();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
