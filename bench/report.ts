/**
 * The benchmark's output: Markdown tables with each figure also given as a ratio of the
 * `script` target, and the record appended to docs/benchmarks.md.
 */
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import type { PhaseFigures } from './phase';

export interface TargetResult {
  target: string;
  phases: PhaseFigures[];
  /** Sum of VmHWM over the target's processes at the end of its run. */
  lifetimePeakRssMb: number;
}

export interface GrowthRow {
  target: string;
  events: number;
  figures: PhaseFigures;
  rssMb: number;
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return Math.round(value).toString();
  if (magnitude >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function withRatio(value: number, base: number | undefined): string {
  if (base === undefined || !Number.isFinite(base) || base === 0 || !Number.isFinite(value)) {
    return formatNumber(value);
  }
  return `${formatNumber(value)} (${(value / base).toFixed(2)}×)`;
}

const COLUMNS: [string, keyof PhaseFigures][] = [
  ['acks/s', 'acksPerSecond'],
  ['flows/s', 'flowsPerSecond'],
  ['ack p50 ms', 'ackP50Ms'],
  ['ack p99 ms', 'ackP99Ms'],
  ['e2e p50 ms', 'e2eP50Ms'],
  ['e2e p99 ms', 'e2eP99Ms'],
  ['CPU ms/flow', 'cpuMsPerFlow'],
  ['peak RSS MB', 'peakRssMb'],
];

/** Formats one row per target and phase, with ratios to `script` in the same phase. */
export function resultsTable(results: TargetResult[]): string {
  const script = results.find((result) => result.target === 'script');
  const header = ['target', 'phase', ...COLUMNS.map(([title]) => title), '429s', 'errors'];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const result of results) {
    for (const figures of result.phases) {
      const base = result === script ? undefined : script?.phases.find((p) => p.phase === figures.phase);
      const cells = COLUMNS.map(([, key]) => withRatio(figures[key] as number, base?.[key] as number | undefined));
      const errors = figures.errors ? `${figures.errors}: ${figures.errorDetails.join(', ')}` : '0';
      lines.push(`| ${[result.target, figures.phase, ...cells, String(figures.rejected), errors].join(' | ')} |`);
    }
  }
  const peaks = results.map((result) => `${result.target} ${formatNumber(result.lifetimePeakRssMb)} MB`);
  lines.push('', `Lifetime peak RSS (VmHWM): ${peaks.join(', ')}.`);
  return lines.join('\n');
}

/** Formats one row per target and checkpoint; a window is the events since the previous checkpoint. */
export function growthTable(rows: GrowthRow[]): string {
  const header = ['target', 'webhooks sent', 'window flows', 'window 429s', 'window flows/s', 'window CPU ms/flow'];
  header.push('window e2e p99 ms', 'RSS MB', 'errors');
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of rows) {
    const { figures } = row;
    const errors = figures.errors ? `${figures.errors}: ${figures.errorDetails.join(', ')}` : '0';
    const cells = [row.target, String(row.events), String(figures.completed), String(figures.rejected)];
    cells.push(formatNumber(figures.flowsPerSecond));
    cells.push(formatNumber(figures.cpuMsPerFlow), formatNumber(figures.e2eP99Ms), formatNumber(row.rssMb), errors);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export function machineLine(command: string): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `Machine: ${cpus().length} CPUs (${cpu}), Node ${process.version}, ${process.platform}. Command: \`${command}\`.`;
}

const DOC_HEADER = `# Benchmarks

How fast story-engine runs the Fleet OS-update flow compared with the same flow written by
hand. \`npm run bench\` and \`npm run bench:growth\` produce the figures; each run is appended
to the end of this page.

## Recorded runs
`;

/** Appends one run's record to `path`, creating the page with its header when missing. */
export function appendRecord(path: string, title: string, body: string): void {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, DOC_HEADER);
  }
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  appendFileSync(path, `\n### ${title}, ${date} UTC\n\n${body}\n`);
}
