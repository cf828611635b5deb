/**
 * `engine replay <run-id>`: runs a finished run again as a new run, from its first failed
 * action or, with --from-start, from the webhook request.
 */
import type { Command } from 'commander';
import { StoryConfigError } from '../config';
import { loadStories } from '../loader';
import { createLogger } from '../logger';
import { formatProblem } from '../problems';
import { planReplay } from '../replay';
import { Runner } from '../runner';
import type { Store } from '../store/types';
import { formatTrail } from '../trail';
import type { LoadedStory, RunRecord } from '../types';
import { openHistoryStore, storeOptions, type StoreOptions } from './history';

interface ReplayOptions extends StoreOptions {
  fromStart?: boolean;
  enqueue?: boolean;
  json?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function loadOrThrow(storiesPath: string): LoadedStory[] {
  const result = loadStories([storiesPath]);
  if (result.problems.length === 0) return result.stories;
  const text = result.problems.map((problem) => {
    const source = problem.position ? result.sources.get(problem.position.file) : undefined;
    return formatProblem(problem, source);
  });
  const count = `${result.problems.length} problem(s) found; nothing was replayed`;
  throw new Error(`${text.join('\n')}\n${count}`);
}

/** Processes work until run `runId` has finished; another engine on the store may help. */
async function processUntilFinished(
  runner: Runner,
  store: Store,
  runId: string,
): Promise<RunRecord> {
  runner.start();
  try {
    for (;;) {
      const run = await store.getRun(runId);
      if (run && run.status !== 'running') return run;
      await sleep(50);
    }
  } finally {
    await runner.stop();
  }
}

async function replay(runId: string, options: ReplayOptions): Promise<void> {
  const store = await openHistoryStore(options);
  try {
    const plan = await planReplay(store, runId, options.fromStart === true);
    const stories = options.enqueue ? [] : loadOrThrow(options.stories);
    if (!options.enqueue && !stories.some((story) => story.path === plan.source.story)) {
      const loaded = stories.map((story) => story.path).join(', ') || '(none)';
      throw new Error(
        `run ${runId} belongs to story "${plan.source.story}", which ${options.stories} does ` +
          `not contain (loaded: ${loaded}); point --stories at the story file`,
      );
    }
    let runner: Runner | undefined;
    if (!options.enqueue) {
      const logger = createLogger('error', createLogger.stderr());
      try {
        runner = new Runner({ stories, store, logger, pollMs: 50 });
      } catch (error) {
        if (!(error instanceof StoryConfigError)) throw error;
        throw new Error(error.missing.join('\n'));
      }
    }

    const run = await store.createRun(
      { story: plan.source.story, storyName: plan.source.storyName },
      plan.first,
    );
    const origin = `replay of run ${runId} from ${plan.action}`;
    if (!runner) {
      const stored = `${origin}: run ${run.id} stored`;
      console.log(options.json ? JSON.stringify({ run, replayOf: runId }) : stored);
      return;
    }
    const finished = await processUntilFinished(runner, store, run.id);
    const events = await store.listEvents(run.id);
    if (options.json) {
      console.log(JSON.stringify({ run: finished, replayOf: runId, events }, null, 2));
    } else {
      console.log(`${origin}\n${formatTrail(finished, events)}`);
    }
    process.exitCode = finished.status === 'succeeded' ? 0 : 1;
  } finally {
    await store.close();
  }
}

export function registerReplay(program: Command): void {
  storeOptions(
    program
      .command('replay')
      .description(
        'run a finished run again as a new run, from its first failed action; ' +
          'also processes other pending work of the store until the new run ends',
      )
      .argument('<run-id>', 'id of the run, as engine runs lists it')
      .option('--from-start', 'start again from the webhook request instead')
      .option('--enqueue', 'only store the new run, for a running engine run to process')
      .option('--json', 'print the new run and its events as JSON'),
  ).action(async (runId: string, options: ReplayOptions) => {
    await replay(runId, options);
  });
}
