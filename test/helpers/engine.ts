/** Starts the engine in-process on an ephemeral port for tests. */
import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Writable } from 'node:stream';
import { privateNetworkTransport } from '../../engine/http';
import { loadStoriesOrThrow } from '../../engine/loader';
import { Runner, type RunnerOptions } from '../../engine/runner';
import { createApp, listen, type StartedServer } from '../../engine/server';
import { MemoryStore } from '../../engine/store/memory';
import type { Store } from '../../engine/store/types';

export interface TestEngine {
  url: string;
  runner: Runner;
  store: Store;
  server: StartedServer;
  /** Every log line written, as text. */
  logs: string[];
  stop(): Promise<void>;
}

/** Writes story YAML to a temporary file and returns its path. */
export function storyFile(yaml: string, name = 'story.yaml'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'story-engine-'));
  const file = path.join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

export async function startEngine(
  files: string[],
  options: Partial<RunnerOptions> = {},
): Promise<TestEngine> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const store = options.store ?? new MemoryStore();
  await store.open();
  // Test upstreams listen on 127.0.0.1, which the outbound guard rejects by default.
  const runner = new Runner({
    stories: loadStoriesOrThrow(files),
    store,
    logger,
    pollMs: 20,
    http: privateNetworkTransport,
    ...options,
  });
  const server = await listen(createApp({ runner, logger }), '127.0.0.1', 0);
  runner.start();
  return {
    url: server.url,
    runner,
    store,
    server,
    logs,
    stop: async () => {
      await server.close();
      await runner.stop();
      await store.close();
    },
  };
}
