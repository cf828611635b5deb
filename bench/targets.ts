/**
 * The targets the benchmark can drive, and how each one is started. Every target serves
 * Fleet's calendar webhook at POST /webhook/fleet/calendar and GET /healthz on 127.0.0.1.
 */
import { join } from 'node:path';

export interface TargetSpec {
  name: string;
  /** Builds the command line for a target listening on `port`, with scratch files in `dir`. */
  command(port: number, dir: string): string[];
  /** False for `bare`, which never calls Fleet: its flow ends with the acknowledgement. */
  callsFleet: boolean;
  description: string;
}

const node = process.execPath;
const benchDir = join(__dirname, 'targets');
const engineCli = join(__dirname, '..', 'engine', 'cli.js');
const story = join(__dirname, '..', '..', 'stories', 'fleet-os-update.yaml');

export const TARGETS: Record<string, TargetSpec> = {
  bare: {
    name: 'bare',
    command: (port) => [node, join(benchDir, 'bare.js'), '--port', String(port)],
    callsFleet: false,
    description: 'node:http server that only acknowledges (the ceiling)',
  },
  script: {
    name: 'script',
    command: (port) => [node, join(benchDir, 'script.js'), '--port', String(port)],
    callsFleet: true,
    description: 'the same flow written by hand: node:http, undici, jsonata, handlebars',
  },
  engine: {
    name: 'engine',
    command: (port) => [node, engineCli, 'run', story, '--port', String(port), '--db', 'memory'],
    callsFleet: true,
    description: 'story-engine with stories/fleet-os-update.yaml, in-memory store',
  },
  'engine-sqlite': {
    name: 'engine-sqlite',
    command: (port, dir) => [node, engineCli, 'run', story, '--port', String(port), '--db', join(dir, 'engine.db')],
    callsFleet: true,
    description: 'story-engine with the SQLite store in a fresh file',
  },
  'engine-postgres': {
    name: 'engine-postgres',
    command: (port) => [node, join(benchDir, 'postgres-workers.js'), '--port', String(port), '--workers', '1'],
    callsFleet: true,
    description: 'story-engine on a fresh PostgreSQL schema (ENGINE_BENCH_PG_URL); PostgreSQL CPU not counted',
  },
  'engine-postgres-2': {
    name: 'engine-postgres-2',
    command: (port) => [node, join(benchDir, 'postgres-workers.js'), '--port', String(port), '--workers', '2'],
    callsFleet: true,
    description: 'two story-engine workers on one PostgreSQL schema; the first serves the webhooks',
  },
};

/** Looks up target names from `--targets`, rejecting unknown ones with the known list. */
export function parseTargets(list: string): TargetSpec[] {
  return list.split(',').map((name) => {
    const spec = TARGETS[name.trim()];
    if (!spec) {
      throw new Error(`unknown target "${name}" in --targets; known targets: ${Object.keys(TARGETS).join(', ')}`);
    }
    return spec;
  });
}
