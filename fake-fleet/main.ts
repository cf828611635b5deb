/**
 * Command line entry of the fake Fleet: `node dist/fake-fleet/main.js [--port 8412] [--token T]`.
 * Prints its URL on the first line of stdout and stops on SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_TOKEN, startFakeFleet } from './server.js';

const USAGE = `Usage: node dist/fake-fleet/main.js [--port N] [--token T]...

Serves a fake Fleet API on 127.0.0.1 with the default host fixtures.
  --port N    TCP port to listen on (default 8412; 0 picks a free port)
  --token T   API token to accept as "Authorization: Bearer T"; repeat for several
              (default ${DEFAULT_TOKEN})
  --help      print this help`;

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new Error(`invalid --port "${text}": expected an integer from 0 to 65535`);
  }
  return port;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8412' },
      token: { type: 'string', multiple: true },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const tokens = values.token ?? [DEFAULT_TOKEN];
  if (tokens.some((token) => token === '' || token.includes(' '))) {
    throw new Error('invalid --token: a token must be non-empty and contain no spaces');
  }

  const fleet = await startFakeFleet({ port: parsePort(values.port), tokens });
  console.log(fleet.url);
  console.error(`fake Fleet listening on ${fleet.url} with ${fleet.hosts.length} hosts`);

  const stop = (signal: NodeJS.Signals): void => {
    console.error(`fake Fleet stopping on ${signal}`);
    fleet.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`fake Fleet failed to stop: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`fake Fleet: ${error instanceof Error ? error.message : String(error)}`);
  console.error('Run with --help for usage.');
  process.exit(2);
});
