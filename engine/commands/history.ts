/**
 * `engine runs` and `engine events <run-id>`: the run history kept in the store.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseSince } from '../duration';
import { DEFAULT_DB, openStore } from '../store';
import type { AttemptRecord, Store } from '../store/types';
import { formatTrail } from '../trail';
import type { RunRecord, RunStatus } from '../types';

export interface StoreOptions {
  db?: string;
  stories: string;
}

const STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed'];

/** Adds the options that locate the store, shared by the history commands. */
export function storeOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--db <store>',
        'store: a SQLite file, or a postgres:// URL (default .engine/engine.db beside the stories)',
      ).env('ENGINE_DB'),
    )
    .option(
      '--stories <path>',
      'story file or folder (replay loads its stories); the default store is beside it',
      '.',
    );
}

/** Opens the store named by --db, or the default one beside --stories. */
export function openHistoryStore(options: StoreOptions): Promise<Store> {
  if (options.db === 'memory') {
    throw new Error('--db memory keeps no history between processes; give a SQLite file or URL');
  }
  const dir = /\.ya?ml$/i.test(options.stories) ? path.dirname(options.stories) : options.stories;
  const isUrl = options.db !== undefined && /^[a-z][a-z0-9+.-]*:\/\//i.test(options.db);
  if (!isUrl) {
    // Reading history must not create an empty store where the user mistyped a path.
    const file = options.db === undefined ? path.join(dir, DEFAULT_DB) : path.resolve(options.db);
    if (!existsSync(file)) {
      const beside = path.join('stories', DEFAULT_DB);
      const hint = options.db === undefined && existsSync(beside) ? ` There is one at ${beside}: add --stories stories.` : '';
      return Promise.reject(
        new Error(
          `no store at ${file}: engine run creates it beside the stories it serves. ` +
            `Pass --stories <folder> or --db <file>.${hint}`,
        ),
      );
    }
  }
  return openStore(options.db, dir);
}

function status(value: string): RunStatus {
  if (!(STATUSES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${STATUSES.join(', ')}, got "${value}"`);
  }
  return value as RunStatus;
}

function limit(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError(`must be a whole number of 1 or more, got "${value}"`);
  }
  return parsed;
}

function since(value: string): number {
  try {
    return parseSince(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Formats runs as a table: id, status, story, start time, duration and error. */
export function formatRuns(runs: RunRecord[]): string {
  if (runs.length === 0) return 'no runs found';
  const rows = runs.map((run) => [
    run.id,
    run.status,
    run.story,
    new Date(run.createdAt).toISOString(),
    run.finishedAt === null ? '-' : `${run.finishedAt - run.createdAt} ms`,
    run.error ?? '',
  ]);
  const header = ['RUN', 'STATUS', 'STORY', 'STARTED', 'TOOK', 'ERROR'];
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column].length)),
  );
  return [header, ...rows]
    .map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd())
    .join('\n');
}

/** Lists the attempts whose outcome the trail does not show: retries, interruptions. */
export function formatAttempts(attempts: AttemptRecord[]): string[] {
  const notable = attempts.filter(
    (attempt) => attempt.outcome === null || !/^(emitted|skipped|failed)/.test(attempt.outcome),
  );
  if (notable.length === 0) return [];
  const lines = ['attempts:'];
  for (const attempt of notable) {
    const time = new Date(attempt.startedAt).toISOString();
    const outcome = attempt.outcome ?? 'in progress';
    lines.push(`  ${attempt.action} #${attempt.attempt} at ${time}: ${outcome}`);
  }
  return lines;
}

interface RunsOptions extends StoreOptions {
  story?: string;
  status?: RunStatus;
  since?: number;
  limit: number;
  json?: boolean;
}

interface EventsOptions extends StoreOptions {
  json?: boolean;
  payloads: boolean;
}

export function registerHistory(program: Command): void {
  storeOptions(
    program
      .command('runs')
      .description('list runs from the store, newest first')
      .option('--story <path>', 'only runs of the story with this path (its webhook prefix)')
      .option('--status <status>', `only runs with this status: ${STATUSES.join(', ')}`, status)
      .option(
        '--since <time>',
        'only runs started after this: a duration back (1h, 7d) or an ISO date',
        since,
      )
      .option('--limit <n>', 'maximum number of runs listed', limit, 50)
      .option('--json', 'print the runs as JSON'),
  ).action(async (options: RunsOptions) => {
    const store = await openHistoryStore(options);
    try {
      const runs = await store.listRuns({
        story: options.story,
        status: options.status,
        since: options.since,
        limit: options.limit,
      });
      console.log(options.json ? JSON.stringify(runs, null, 2) : formatRuns(runs));
    } finally {
      await store.close();
    }
  });

  storeOptions(
    program
      .command('events')
      .description("print a run's trail: each action's event, with payloads and attempts")
      .argument('<run-id>', 'id of the run, as engine runs lists it')
      .option('--no-payloads', 'leave the event payloads out')
      .option('--json', 'print the run, its events and its attempts as JSON'),
  ).action(async (runId: string, options: EventsOptions) => {
    const store = await openHistoryStore(options);
    try {
      const run = await store.getRun(runId);
      if (!run) throw new Error(`run ${runId} not found; list runs with: engine runs`);
      const events = await store.listEvents(runId);
      const attempts = (await store.listAttempts?.(runId)) ?? [];
      if (options.json) {
        console.log(JSON.stringify({ run, events, attempts }, null, 2));
        return;
      }
      const lines = [formatTrail(run, events, { payloads: options.payloads })];
      lines.push(...formatAttempts(attempts));
      console.log(lines.join('\n'));
    } finally {
      await store.close();
    }
  });
}
