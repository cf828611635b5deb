/**
 * `engine run <stories...>`: serves the stories' webhooks and processes their runs, or with
 * `--event` injects one webhook event, runs it to the end and prints the trail.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEFAULT_MAX_PENDING } from '../admission';
import { StoryConfigError } from '../config';
import { loadStories } from '../loader';
import { createLogger, LOG_LEVELS } from '../logger';
import { EngineMetrics } from '../metrics';
import { formatProblem } from '../problems';
import { Runner, type HostedWebhook } from '../runner';
import { createApp, listen } from '../server';
import { openStore } from '../store';
import type { Store } from '../store/types';
import { parseDuration } from '../duration';
import { startRetention } from '../retention';
import { formatTrail } from '../trail';
import type { Json, LoadedStory, RunRecord } from '../types';

interface RunOptions {
  port: number;
  host: string;
  event?: string;
  webhook?: string;
  db?: string;
  logLevel?: string;
  concurrency: number;
  lease: number;
  maxPending: number;
  json?: boolean;
  keep?: number;
  stopTimeout: number;
}

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
    }
    return parsed;
  };
}

function duration(name: string) {
  return (value: string): number => {
    try {
      return parseDuration(value, name);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

/** Reads a true/false environment variable; commander would treat any value as true. */
function booleanFromEnv(name: string): boolean | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw new Error(`invalid ${name} value "${value}": expected true or false`);
}

function level(value: string): string {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`);
  }
  return value;
}

/** Loads the stories or prints every problem and returns undefined. */
function loadOrReport(paths: string[]): LoadedStory[] | undefined {
  const result = loadStories(paths);
  if (result.problems.length === 0) return result.stories;
  for (const problem of result.problems) {
    const source = problem.position ? result.sources.get(problem.position.file) : undefined;
    console.error(formatProblem(problem, source));
  }
  console.error(`${result.problems.length} problem(s) found; nothing was started`);
  return undefined;
}

function storiesDir(paths: string[]): string {
  const first = paths[0] ?? '.';
  return /\.ya?ml$/i.test(first) ? path.dirname(first) : first;
}

function readEvent(file: string): Json {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new Error(`event ${file === '-' ? '(stdin)' : file} is not valid JSON: ${(error as Error).message}`);
  }
}

function pickWebhook(runner: Runner, name: string | undefined): HostedWebhook {
  const candidates = name ? runner.webhooks.filter((webhook) => webhook.action.name === name) : runner.webhooks;
  if (candidates.length === 1) return candidates[0] as HostedWebhook;
  const names = runner.webhooks.map((webhook) => webhook.action.name).join(', ') || '(none)';
  if (candidates.length === 0) throw new Error(`no webhook action named "${name}"; the stories have: ${names}`);
  throw new Error(`the stories have several webhooks (${names}); choose one with --webhook NAME`);
}

/** Injects one event, waits for its run to finish and returns the finished run. */
async function runOnce(runner: Runner, options: RunOptions, eventFile: string): Promise<RunRecord> {
  const webhook = pickWebhook(runner, options.webhook);
  const body = readEvent(eventFile);
  runner.start();
  const run = await runner.accept(webhook, {
    method: 'POST',
    path: webhook.url,
    query: {},
    headers: { 'content-type': 'application/json' },
    body,
    received_at: new Date().toISOString(),
  });
  const finished = await runner.waitForRun(run.id);
  await runner.stop();
  return finished;
}

async function execute(paths: string[], options: RunOptions): Promise<void> {
  const json = options.json ?? booleanFromEnv('ENGINE_JSON') ?? false;
  const stories = loadOrReport(paths);
  if (!stories) {
    process.exitCode = 1;
    return;
  }
  const oneShot = options.event !== undefined;
  const logger = oneShot
    ? createLogger(options.logLevel ?? 'error', createLogger.stderr())
    : createLogger(options.logLevel ?? 'info');
  const onPoolError = (error: Error) =>
    logger.error({ err: error }, 'idle PostgreSQL connection failed; the pool opens a new one when needed');
  const store: Store = await openStore(options.db ?? (oneShot ? 'memory' : undefined), storiesDir(paths), {
    onPoolError,
  });
  const metrics = new EngineMetrics({ store });
  let runner: Runner;
  try {
    runner = new Runner({
      stories,
      store,
      logger,
      metrics,
      concurrency: options.concurrency,
      leaseMs: options.lease,
      maxPending: options.maxPending,
    });
  } catch (error) {
    await store.close();
    if (!(error instanceof StoryConfigError)) throw error;
    for (const line of error.missing) console.error(line);
    process.exitCode = 1;
    return;
  }

  if (oneShot) {
    try {
      const run = await runOnce(runner, options, options.event as string);
      const events = await store.listEvents(run.id);
      console.log(json ? JSON.stringify({ run, events }, null, 2) : formatTrail(run, events));
      process.exitCode = run.status === 'succeeded' ? 0 : 1;
    } finally {
      await store.close();
    }
    return;
  }

  const app = createApp({ runner, logger, metrics });
  const server = await listen(app, options.host, options.port);
  runner.start();
  for (const webhook of runner.webhooks) {
    logger.info({ url: `${server.url}${webhook.url}`, methods: webhook.route.methods }, 'webhook ready');
  }
  logger.info({ url: server.url, store: store.kind, stories: stories.length }, 'engine started');
  const stopRetention = options.keep ? startRetention(store, options.keep, logger) : () => undefined;

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'stopping: no new webhooks, finishing work in flight');
    void (async () => {
      stopRetention();
      await server.close();
      await runner.stop(options.stopTimeout * 1000);
      const pending = await store.pendingCount();
      if (store.kind === 'memory' && pending > 0) {
        logger.warn({ pending }, 'the memory store keeps nothing: pending work is lost on exit');
      }
      await store.close();
      logger.info('engine stopped');
      logger.flush();
    })().catch((error: unknown) => {
      logger.error({ err: error }, 'stopping failed; work still claimed runs again after a restart');
      logger.flush();
      process.exitCode = 1;
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('serve the webhooks of the given stories and process their runs')
    .argument('<paths...>', 'story files or folders of stories')
    .addOption(
      new Option('-p, --port <port>', 'TCP port of the webhook server')
        .env('ENGINE_PORT')
        .default(8080)
        .argParser(integer('--port', 0, 65535)),
    )
    .addOption(
      new Option('--host <host>', 'address the webhook server listens on')
        .env('ENGINE_HOST')
        .default('127.0.0.1'),
    )
    .addOption(
      new Option('--event <file>', 'run one webhook event from a JSON file ("-" for stdin), print the trail and exit')
        .env('ENGINE_EVENT'),
    )
    .addOption(
      new Option('--webhook <name>', 'with --event: the webhook action that receives the event').env('ENGINE_WEBHOOK'),
    )
    .addOption(
      new Option(
        '--db <store>',
        'store: a SQLite file, "memory", or a postgres:// URL with an optional ?schema=NAME ' +
          '(default .engine/engine.db beside the stories; memory with --event)',
      ).env('ENGINE_DB'),
    )
    .addOption(
      new Option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (default info; error with --event)`)
        .env('ENGINE_LOG_LEVEL')
        .argParser(level),
    )
    .addOption(
      new Option('--concurrency <n>', 'work items executed at once by this process')
        .env('ENGINE_CONCURRENCY')
        .default(32)
        .argParser(integer('--concurrency', 1, 1024)),
    )
    .addOption(
      new Option(
        '--lease <duration>',
        'how long a claim on a work item lasts before another worker may take the item over ' +
          '(such as 30s or 5m); the PostgreSQL store renews the claims of running actions, ' +
          'other stores need it longer than the longest action attempt',
      )
        .env('ENGINE_LEASE')
        .default(5 * 60_000, '5m')
        .argParser(duration('--lease')),
    )
    .addOption(
      new Option(
        '--max-pending <n>',
        'pending work items (queued or running actions) at which webhooks respond 429 with Retry-After',
      )
        .env('ENGINE_MAX_PENDING')
        .default(DEFAULT_MAX_PENDING)
        .argParser(integer('--max-pending', 1, 10_000_000)),
    )
    .option('--json', 'with --event: print the run and its events as JSON (env: ENGINE_JSON=true)')
    .addOption(
      new Option('--keep <duration>', 'delete finished runs older than this, such as 30d (default: keep all)')
        .env('ENGINE_KEEP')
        .argParser(duration('--keep')),
    )
    .addOption(
      new Option(
        '--stop-timeout <seconds>',
        'on SIGTERM or SIGINT, seconds to let work in flight finish before it is aborted and released',
      )
        .env('ENGINE_STOP_TIMEOUT')
        .default(30)
        .argParser(integer('--stop-timeout', 0, 3600)),
    )
    .action(async (paths: string[], options: RunOptions) => {
      await execute(paths, options);
    });
}
