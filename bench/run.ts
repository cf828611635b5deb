/**
 * The benchmark driver: starts a fake Fleet and a load generator, then each target in turn,
 * measures it, prints a Markdown table and appends it to docs/benchmarks.md.
 * Run `npm run bench -- --help` for the options. It is not a mocha test.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { freePort, WEBHOOK_PATH } from './common';
import type { LoadPlan } from './loadgen';
import { peakRssMb, rssMb } from './measure';
import { figuresOf, runLoad, type PhaseContext, type PhaseFigures } from './phase';
import { forkHelper, helperReady, logTail, spawnTarget, stopAllChildren, stopChild, waitHealthy } from './processes';
import { appendRecord, growthTable, machineLine, resultsTable, type GrowthRow, type TargetResult } from './report';
import { parseTargets, TARGETS, type TargetSpec } from './targets';

interface Options {
  targets: string;
  duration: number;
  warmup: number;
  rate: number;
  connections: number;
  events?: number;
  drainTimeout: number;
  write: boolean;
  doc: string;
  cpuProf?: string;
}

/** Builds a commander parser that accepts positive integers only. */
function positiveInteger(option: string): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number <= 0) {
      throw new InvalidArgumentError(`${option} must be a positive integer, got "${value}"`);
    }
    return number;
  };
}

function parseOptions(argv: string[]): Options {
  const program = new Command('bench')
    .description('Measure story-engine against a hand-written script and a bare HTTP server.')
    .option('--targets <list>', `comma-separated targets: ${Object.keys(TARGETS).join(', ')}`)
    .option('--duration <seconds>', 'length of the saturation and fixed-rate phases', positiveInteger('--duration'), 10)
    .option('--warmup <seconds>', 'closed-loop warm-up before measuring, not counted', positiveInteger('--warmup'), 2)
    .option('--rate <per-second>', 'webhooks per second in the fixed-rate phase', positiveInteger('--rate'), 400)
    .option('--connections <count>', 'keep-alive connections of the load generator', positiveInteger('--connections'), 32)
    .option('--events <count>', 'growth mode: send this many webhooks closed-loop, reporting at 1k, 10k, 100k ...', positiveInteger('--events'))
    .option('--drain-timeout <seconds>', 'how long to wait for outstanding commands after a phase', positiveInteger('--drain-timeout'), 60)
    .option('--doc <path>', 'page that the record is appended to', 'docs/benchmarks.md')
    .option('--no-write', 'print the table without appending it to the page')
    .option('--cpu-prof <dir>', 'run Node targets with --cpu-prof and write their profiles to this folder');
  program.parse(argv);
  const options = program.opts<Options>();
  options.targets ??= options.events ? 'script,engine,engine-sqlite' : 'bare,script,engine,engine-sqlite';
  return options;
}

/** Checkpoints of a growth run: each power of ten from 1000 below `events`, then `events`. */
function checkpoints(events: number): number[] {
  const marks: number[] = [];
  for (let mark = 1000; mark < events; mark *= 10) marks.push(mark);
  marks.push(events);
  return marks;
}

class Bench {
  private nextHostId = 1;
  readonly token = randomBytes(16).toString('hex');
  readonly scratch = mkdtempSync(join(tmpdir(), 'story-engine-bench-'));
  fleetUrl = '';
  loadgen = forkHelper(join(__dirname, 'loadgen.js'));
  fleet = forkHelper(join(__dirname, 'fake-fleet.js'), [this.token]);

  constructor(readonly options: Options) {}

  async start(): Promise<void> {
    this.fleetUrl = `http://127.0.0.1:${await helperReady(this.fleet, 'fake Fleet')}`;
  }

  plan(port: number, mode: LoadPlan['mode'], durationMs: number, maxRequests: number): LoadPlan {
    const plan: LoadPlan = {
      mode,
      origin: `http://127.0.0.1:${port}`,
      path: WEBHOOK_PATH,
      connections: this.options.connections,
      durationMs,
      maxRequests,
      rate: this.options.rate,
      idBase: this.nextHostId,
      timeoutMs: 30_000,
    };
    // Reserves the ids, so that no two webhooks of a run share a host and its command.
    this.nextHostId += maxRequests;
    return plan;
  }

  /** Starts `spec`, hands it to `measure`, and stops it by its PID whatever happens. */
  async withTarget<T>(spec: TargetSpec, measure: (context: PhaseContext, port: number) => Promise<T>): Promise<T> {
    const port = await freePort();
    const env = { ...process.env, FLEET_URL: this.fleetUrl, FLEET_API_TOKEN: this.token, LOG_LEVEL: 'warn' };
    const logPath = join(this.scratch, `${spec.name}.log`);
    const command = spec.command(port, this.scratch);
    if (this.options.cpuProf && command[0] === process.execPath) {
      command.splice(1, 0, '--cpu-prof', `--cpu-prof-dir=${resolve(this.options.cpuProf)}`);
    }
    const target = spawnTarget(command, env, logPath);
    console.error(`bench: started target ${spec.name} (pid ${target.pid}) on port ${port}`);
    try {
      await waitHealthy(target, spec.name, port, '/healthz', 20_000);
      const context: PhaseContext = {
        loadgen: this.loadgen,
        fleet: this.fleet,
        targetPids: [target.pid],
        callsFleet: spec.callsFleet,
        drainTimeoutMs: this.options.drainTimeout * 1000,
        checkAlive: () => {
          if (target.exited) throw new Error(`target ${spec.name} ${target.exited}; its log ends with:\n${logTail(target)}`);
        },
      };
      return await measure(context, port);
    } finally {
      // A profile is written only when the process exits by itself, which can take a while.
      await stopChild(target.child, this.options.cpuProf ? 30_000 : 5000);
    }
  }

  async phase(context: PhaseContext, name: string, target: string, plan: LoadPlan): Promise<PhaseFigures> {
    const figures = figuresOf(name, await runLoad(context, plan));
    if (figures.accepted === 0) {
      throw new Error(`target ${target}, ${name}: no webhook was accepted (${figures.errorDetails.join(', ') || `${figures.rejected} × 429`})`);
    }
    if (figures.completed === 0) {
      throw new Error(`target ${target}, ${name}: no command reached the fake Fleet (${figures.errorDetails.join(', ')})`);
    }
    console.error(`bench: ${target} ${name}: ${figures.completed} flows, ${figures.errors} errors`);
    return figures;
  }

  async warmUp(context: PhaseContext, port: number, target: string): Promise<void> {
    await this.phase(context, 'warm-up', target, this.plan(port, 'closed', this.options.warmup * 1000, 1e6));
  }

  async measureTarget(spec: TargetSpec): Promise<TargetResult> {
    return this.withTarget(spec, async (context, port) => {
      const { duration } = this.options;
      await this.warmUp(context, port, spec.name);
      const saturation = this.plan(port, 'closed', duration * 1000, 2e6);
      const fixedRate = this.plan(port, 'open', duration * 1000, this.options.rate * duration);
      const phases = [
        await this.phase(context, 'saturation', spec.name, saturation),
        await this.phase(context, 'fixed rate', spec.name, fixedRate),
      ];
      return { target: spec.name, phases, lifetimePeakRssMb: peakRssMb(context.targetPids) };
    });
  }

  async measureGrowth(spec: TargetSpec, events: number): Promise<GrowthRow[]> {
    return this.withTarget(spec, async (context, port) => {
      await this.warmUp(context, port, spec.name);
      const rows: GrowthRow[] = [];
      let sent = 0;
      for (const mark of checkpoints(events)) {
        const plan = this.plan(port, 'closed', 600_000, mark - sent);
        const figures = await this.phase(context, `events ${sent + 1}-${mark}`, spec.name, plan);
        sent = mark;
        rows.push({ target: spec.name, events: mark, figures, rssMb: rssMb(context.targetPids) });
      }
      return rows;
    });
  }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv);
  const specs = parseTargets(options.targets);
  const command = `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim();
  const bench = new Bench(options);
  let table: string;
  let allFigures: PhaseFigures[];
  try {
    await bench.start();
    if (options.events) {
      const rows: GrowthRow[] = [];
      for (const spec of specs) rows.push(...(await bench.measureGrowth(spec, options.events)));
      table = growthTable(rows);
      allFigures = rows.map((row) => row.figures);
    } else {
      const results: TargetResult[] = [];
      for (const spec of specs) results.push(await bench.measureTarget(spec));
      table = resultsTable(results);
      allFigures = results.flatMap((result) => result.phases);
    }
  } finally {
    await stopAllChildren();
    rmSync(bench.scratch, { recursive: true, force: true });
  }

  const settings = options.events
    ? `Growth: ${options.events} webhooks closed-loop over ${options.connections} connections after a ${options.warmup} s warm-up.`
    : `Saturation: ${options.connections} connections closed-loop, ${options.warmup} s warm-up, then ${options.duration} s. ` +
      `Fixed rate: ${options.rate} webhooks/s for ${options.duration} s, latency from the planned send time.`;
  const record = `${machineLine(command)}\n${settings}\n\n${table}\n`;
  console.log(record);

  const failed = allFigures.filter((figures) => figures.errors > 0);
  if (failed.length) {
    console.error(`bench: ${failed.length} phase(s) had errors, so the record was not written to ${options.doc}`);
    return 1;
  }
  if (options.write) {
    appendRecord(options.doc, options.events ? 'Growth run' : 'Run', record);
    console.error(`bench: appended the record to ${options.doc}`);
  }
  return 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`bench: ${signal} received, stopping the child processes`);
    stopAllChildren().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  async (error: Error) => {
    console.error(`bench failed: ${error.message}`);
    await stopAllChildren();
    process.exit(1);
  },
);
