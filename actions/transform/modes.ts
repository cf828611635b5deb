/** The Event Transform modes. Each takes the action input and returns what to emit. */
import { createHash, randomUUID } from 'node:crypto';
import { ActionError, type ActionInput, type ActionResult, type Json } from '../../engine/types';

export const MODES = ['message', 'explode', 'implode', 'deduplicate', 'delay', 'throttle', 'extract'] as const;

type ModeRunner = (input: ActionInput) => Promise<ActionResult>;

const DEFAULT_IMPLODE_TIMEOUT_SECONDS = 60;

function option(input: ActionInput, name: string): unknown {
  return input.action.options[name];
}

/** Stable text of a key value, hashed so state keys stay short whatever the value. */
function keyOf(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? null);
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

async function message(input: ActionInput): Promise<ActionResult> {
  const payload = await input.field<Json>('payload');
  return { emit: [payload === undefined ? null : payload] };
}

async function explode(input: ActionInput): Promise<ActionResult> {
  const list = await input.field<unknown>('path');
  if (!Array.isArray(list)) {
    const got = list === undefined ? 'nothing' : JSON.stringify(list).slice(0, 80);
    throw new ActionError(`explode needs a list at "path", got ${got}`);
  }
  const to = String(option(input, 'to') ?? 'item');
  const id = randomUUID();
  const emit = list.map((element, index) => ({ [to]: element as Json, index, size: list.length, explode_id: id }));
  return { emit, summary: `${list.length} events` };
}

interface Group {
  items: Json[];
  size: number;
  /** Id of the timeout timer, cancelled when the group fills first. */
  timer: string;
}

async function implode(input: ActionInput): Promise<ActionResult> {
  if (input.timer !== undefined) {
    const stateKey = String(input.timer);
    let group: Group | undefined;
    await input.state.update(stateKey, (current) => {
      group = current as Group | undefined;
      return { value: undefined };
    });
    if (!group) return { emit: [], summary: 'group already complete' };
    const partial = { items: group.items, size: group.size, complete: false };
    return { emit: [partial], summary: `timed out with ${group.items.length} of ${group.size}` };
  }

  const key = await input.field<unknown>('key');
  const rawSize = await input.field<unknown>('size');
  const size = Number(rawSize);
  if (!Number.isInteger(size) || size < 1) {
    throw new ActionError(`implode needs a whole number of 1 or more as "size", got ${JSON.stringify(rawSize) ?? 'nothing'}`);
  }
  const item = option(input, 'item') === undefined ? input.event : await input.field<Json>('item');
  const stateKey = `${input.context.meta.run_id}:${keyOf(key)}`;
  const timeoutMs = Number(option(input, 'timeout') ?? DEFAULT_IMPLODE_TIMEOUT_SECONDS) * 1000;

  let complete: Group | undefined;
  let first = false;
  let timerId = '';
  await input.state.update(stateKey, (current) => {
    const group = (current as Group | undefined) ?? { items: [], size, timer: randomUUID() };
    first = current === undefined;
    timerId = group.timer;
    group.items.push(item ?? null);
    if (group.items.length >= group.size) {
      complete = group;
      return { value: undefined };
    }
    return { value: group as unknown as Json, ttlMs: timeoutMs * 2 };
  });
  const done = complete as Group | undefined;
  if (done) {
    return {
      emit: [{ items: done.items, size: done.size, complete: true }],
      summary: `gathered ${done.size}`,
      cancelTimers: first ? [] : [done.timer],
    };
  }
  const timer = first ? { afterMs: timeoutMs, value: stateKey, id: timerId } : undefined;
  return { emit: [], summary: 'waiting for the rest of the group', timer };
}

async function deduplicate(input: ActionInput): Promise<ActionResult> {
  const key = keyOf(await input.field<unknown>('key'));
  const lookback = option(input, 'lookback') as number | undefined;
  let seen = false;
  if (lookback !== undefined) {
    await input.state.update('recent', (current) => {
      const recent = Array.isArray(current) ? (current as string[]) : [];
      seen = recent.includes(key);
      const next = seen ? recent : [...recent, key].slice(-lookback);
      return { value: next };
    });
  } else {
    const periodMs = Number(option(input, 'period') ?? 86400) * 1000;
    await input.state.update(`key:${key}`, (current) => {
      seen = current !== undefined;
      return seen ? { value: current, ttlMs: undefined } : { value: Date.now(), ttlMs: periodMs };
    });
  }
  return seen ? { emit: [], summary: 'duplicate' } : { emit: [input.event] };
}

async function delay(input: ActionInput): Promise<ActionResult> {
  const delayMs = Number(option(input, 'seconds')) * 1000;
  return { emit: [input.event], delayMs, summary: `held ${delayMs / 1000} s` };
}

interface Window {
  start: number;
  count: number;
}

/**
 * Passes at most `limit` events per `period`. Events over the limit wait for the next window
 * with room (or are dropped with `drop: true`), so the pace stays within the limit across a burst.
 */
async function throttle(input: ActionInput): Promise<ActionResult> {
  const limit = Number(option(input, 'limit'));
  const periodMs = Number(option(input, 'period')) * 1000;
  const drop = option(input, 'drop') === true;
  const now = Date.now();
  let delayMs = 0;
  let dropped = false;
  await input.state.update('window', (current) => {
    const window = (current as Window | undefined) ?? { start: now, count: 0 };
    const elapsed = Math.floor((now - window.start) / periodMs);
    if (elapsed > 0) {
      window.start += elapsed * periodMs;
      window.count = Math.max(0, window.count - elapsed * limit);
    }
    if (drop && window.count >= limit) {
      dropped = true;
      return { value: window as unknown as Json };
    }
    delayMs = Math.max(0, window.start + Math.floor(window.count / limit) * periodMs - now);
    window.count += 1;
    return { value: window as unknown as Json };
  });
  if (dropped) return { emit: [], summary: 'over the limit; dropped' };
  return { emit: [input.event], delayMs, summary: delayMs > 0 ? `delayed ${delayMs} ms` : undefined };
}

async function extract(input: ActionInput): Promise<ActionResult> {
  const text = await input.field<unknown>('text');
  const subject = typeof text === 'string' ? text : JSON.stringify(text ?? '');
  const flags = String(option(input, 'flags') ?? '');
  const all = option(input, 'all') === true;
  const pattern = new RegExp(String(option(input, 'pattern')), all ? `${flags}g` : flags);
  const found = all ? [...subject.matchAll(pattern)] : [pattern.exec(subject)].filter((match) => match !== null);
  const matches = found.map((match) => ({
    match: match[0],
    groups: match.slice(1).map((group) => group ?? null),
    named: { ...(match.groups ?? {}) } as Record<string, Json>,
  }));
  return { emit: [{ matches }], summary: `${matches.length} matches` };
}

export const MODE_RUNNERS: Record<string, ModeRunner> = {
  message,
  explode,
  implode,
  deduplicate,
  delay,
  throttle,
  extract,
};
