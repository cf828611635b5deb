/**
 * `npm run demo`: runs the Fleet story over real HTTP. It starts the fake Fleet (unless
 * FLEET_URL names a real one), serves the story's webhook, sends Fleet's calendar payload to
 * it, then prints the run's trail and the MDM command Fleet received.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_TOKEN, startFakeFleet, type FakeFleet } from '../fake-fleet/server';
import { loadStoriesOrThrow } from './loader';
import { createLogger } from './logger';
import { Runner } from './runner';
import { createApp, listen } from './server';
import { MemoryStore } from './store/memory';
import { formatTrail } from './trail';

const ROOT = path.join(__dirname, '..', '..');
const STORY = path.join(ROOT, 'stories', 'fleet-os-update.yaml');
const EVENT = path.join(ROOT, 'stories', 'events', 'fleet-calendar.json');

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

async function fleetTarget(): Promise<{ fleet?: FakeFleet; env: NodeJS.ProcessEnv; hostId: number }> {
  if (process.env['FLEET_URL']) {
    const hostId = Number(process.env['DEMO_HOST_ID']);
    if (!process.env['FLEET_API_TOKEN'] || !Number.isInteger(hostId) || hostId <= 0) {
      throw new Error(
        'FLEET_URL is set, so the demo would schedule a real OS update: set FLEET_API_TOKEN and ' +
          'DEMO_HOST_ID (the Fleet host id to update) as well, or unset FLEET_URL to use the fake Fleet',
      );
    }
    console.log(`1. Using the Fleet at ${process.env['FLEET_URL']} for host ${hostId}`);
    return { env: process.env, hostId };
  }
  const fleet = await startFakeFleet({ tokens: [DEFAULT_TOKEN] });
  console.log(`1. Fake Fleet started at ${fleet.url} (set FLEET_URL to use a real Fleet)`);
  return { fleet, env: { ...process.env, FLEET_URL: fleet.url, FLEET_API_TOKEN: DEFAULT_TOKEN }, hostId: 11058 };
}

async function main(): Promise<void> {
  console.log(`story-engine demo: ${path.relative(process.cwd(), STORY)}\n`);
  const { fleet, env, hostId } = await fleetTarget();
  const logger = createLogger('warn', createLogger.stderr());
  const store = new MemoryStore();
  const runner = new Runner({ stories: loadStoriesOrThrow([STORY]), store, logger, env });
  const server = await listen(createApp({ runner, logger }), '127.0.0.1', 0);
  runner.start();
  try {
    const webhook = runner.webhooks[0];
    if (!webhook) throw new Error('the Fleet story has no webhook');
    const url = `${server.url}${webhook.url}`;
    console.log(`2. Engine serving ${url}`);

    const payload = { ...(JSON.parse(readFileSync(EVENT, 'utf8')) as Record<string, unknown>), host_id: hostId };
    console.log(`3. POST ${url}\n${indent(JSON.stringify(payload))}`);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    const accepted = (await response.json()) as { run_id?: string };
    console.log(`   -> ${response.status} ${JSON.stringify(accepted)}\n`);
    if (!accepted.run_id) throw new Error(`the webhook did not accept the event (status ${response.status})`);

    const run = await runner.waitForRun(accepted.run_id);
    const events = await store.listEvents(run.id);
    console.log(`4. Trail of the run\n${indent(formatTrail(run, events))}\n`);

    const encoded = events.find((event) => event.action === 'encode_command')?.payload as { command?: string } | null;
    if (encoded?.command) {
      console.log('5. The MDM command, decoded from base64');
      console.log(indent(Buffer.from(encoded.command, 'base64').toString('utf8').trimEnd()));
    }
    const received = fleet?.commands[0];
    if (received) {
      console.log(`\n6. Fleet enqueued command ${received.commandUuid} (${received.requestType}) ` +
        `for host_uuids ${JSON.stringify(received.hostUuids)}`);
    }
    console.log(
      '\nThe same run from the command line, against the fake Fleet (node dist/fake-fleet/main.js):\n' +
        `    FLEET_API_TOKEN=${DEFAULT_TOKEN} npx engine run stories/fleet-os-update.yaml ` +
        '--event stories/events/fleet-calendar.json',
    );
    process.exitCode = run.status === 'succeeded' ? 0 : 1;
  } finally {
    await server.close();
    await runner.stop();
    await fleet?.close();
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
