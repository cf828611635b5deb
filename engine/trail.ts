/** Renders a run's events as the trail printed by one-shot runs and `engine events`. */
import type { EventRecord, RunRecord } from './types';

const MARKS: Record<EventRecord['status'], string> = { emitted: 'ok', skipped: '--', failed: 'FAIL' };

function duration(event: EventRecord): string {
  return `${Math.max(0, event.finishedAt - event.startedAt)} ms`;
}

export function formatTrail(run: RunRecord, events: EventRecord[], options: { payloads?: boolean } = {}): string {
  const width = Math.max(6, ...events.map((event) => event.action.length));
  const lines = [`run ${run.id} of story "${run.storyName}" (${run.story})`];
  let previous: EventRecord | undefined;
  for (const event of events) {
    const error = event.error?.startsWith(`${event.action}: `)
      ? event.error.slice(event.action.length + 2)
      : event.error;
    // Events emitted by one execution (an explode) share its summary, so it is shown once.
    const sameExecution =
      previous?.action === event.action && previous.startedAt === event.startedAt && previous.summary === event.summary;
    previous = event;
    const summary = sameExecution ? null : event.summary;
    const note = error ?? summary ?? (event.status === 'skipped' ? 'emitted nothing' : '');
    const attempt = event.attempt > 1 ? ` (attempt ${event.attempt})` : '';
    lines.push(
      `  ${MARKS[event.status].padEnd(4)} ${event.action.padEnd(width)}  ${duration(event).padStart(7)}  ${note}${attempt}`.trimEnd(),
    );
    if (options.payloads && event.status === 'emitted') {
      const body = JSON.stringify(event.payload, null, 2).split('\n');
      lines.push(...body.map((line) => `         ${line}`));
    }
  }
  lines.push(`run ${run.status}${run.error ? `: ${run.error}` : ''}`);
  return lines.join('\n');
}
