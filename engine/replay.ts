/**
 * Replay of a finished run: a new run that starts at the first failed action of the old one,
 * with the upstream events that action saw, or at the webhook with the original request.
 */
import { setField } from './completion';
import type { NewWorkItem, Store } from './store/types';
import type { EventRecord, Json, RunRecord } from './types';

export interface ReplayPlan {
  /** The run being replayed. */
  source: RunRecord;
  /** Action the new run starts at. */
  action: string;
  first: NewWorkItem;
}

/**
 * Builds the first work item of a replay of run `runId`; throws when it cannot be replayed.
 * NOTE: stored payloads have credentials redacted, so a replayed action receives the redaction
 * mark where an upstream payload contained a credential value.
 */
export async function planReplay(
  store: Store,
  runId: string,
  fromStart: boolean,
): Promise<ReplayPlan> {
  const source = await store.getRun(runId);
  if (!source) throw new Error(`run ${runId} not found; list runs with: engine runs`);
  if (source.status === 'running') {
    throw new Error(`run ${runId} is still running; replay it once it has finished`);
  }
  const events = await store.listEvents(runId);
  const byId = new Map(events.map((event) => [event.id, event]));

  if (fromStart) {
    const webhook = events.find((event) => event.parentId === null && event.status === 'emitted');
    if (!webhook) {
      throw new Error(`run ${runId} has no stored webhook event to start from`);
    }
    const first = item(source, webhook.action, webhook.payload, {});
    return { source, action: webhook.action, first };
  }

  if (source.status !== 'failed') {
    throw new Error(
      `run ${runId} succeeded, so no action failed; use --from-start to run it again`,
    );
  }
  const failed = events.find((event) => event.status === 'failed');
  if (!failed) throw new Error(`run ${runId} failed but has no failed event to replay from`);
  if (failed.parentId === null) {
    throw new Error(
      `run ${runId} failed in its first action (${failed.action}), whose input is not stored; ` +
        'use --from-start',
    );
  }
  const lineage = upstream(byId, failed.parentId, runId);
  const parent = byId.get(failed.parentId) as EventRecord;
  const first = item(source, failed.action, parent.payload, lineage);
  return { source, action: failed.action, first };
}

/** Collects the payloads of the events from `eventId` up to the webhook, by action name. */
function upstream(
  byId: Map<string, EventRecord>,
  eventId: string,
  runId: string,
): Record<string, Json> {
  const lineage: Record<string, Json> = {};
  for (let id: string | null = eventId; id !== null; ) {
    const event = byId.get(id);
    if (!event) throw new Error(`run ${runId} lacks event ${id}, which its trail refers to`);
    // The event nearest the failure wins.
    if (!Object.hasOwn(lineage, event.action)) setField(lineage, event.action, event.payload);
    id = event.parentId;
  }
  return lineage;
}

function item(
  source: RunRecord,
  action: string,
  input: Json,
  lineage: Record<string, Json>,
): NewWorkItem {
  return {
    runId: '',
    story: source.story,
    action,
    parentEventId: null,
    input,
    lineage,
    availableAt: Date.now(),
  };
}
