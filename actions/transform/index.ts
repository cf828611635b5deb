/**
 * transform: Tines' Event Transform. `message` builds a new event from `payload`; the other
 * modes split, gather, filter, delay, pace and parse events (see modes.ts).
 */
import { ActionError, type ActionSpec, type ActionType, type LoadProblem } from '../../engine/types';
import { MODE_RUNNERS, MODES } from './modes';

const seconds = (description: string) => ({ type: 'number', exclusiveMinimum: 0, maximum: 31 * 86400, description });

const STATEFUL_MODES = new Set(['implode', 'deduplicate', 'throttle']);

/** Fields each mode needs besides `mode`. */
const REQUIRED_BY_MODE: Record<string, string[]> = {
  message: ['payload'],
  explode: ['path'],
  implode: ['key', 'size'],
  deduplicate: ['key'],
  delay: ['seconds'],
  throttle: ['limit', 'period'],
  extract: ['text', 'pattern'],
};

export const transform: ActionType = {
  type: 'transform',
  schema: {
    description: 'Builds, splits, gathers, filters, delays, paces or parses events, as `mode` says.',
    properties: {
      mode: {
        enum: [...MODES],
        default: 'message',
        description:
          '`message` emits `payload`; `explode` one event per element of `path`; `implode` gathers ' +
          'exploded events by `key`; `deduplicate` drops repeats of `key`; `delay` waits `seconds`; ' +
          '`throttle` passes at most `limit` events per `period`; `extract` emits regex captures of `text`.',
      },
      payload: {
        description:
          'message: the event to emit. Strings starting with `=` are JSONata, strings with `{{` are templates.',
      },
      path: { description: 'explode: a list to split, usually an expression such as `=hook.body.items`.' },
      to: {
        type: 'string',
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        default: 'item',
        description: 'explode: field name of the element in each emitted event.',
      },
      key: {
        description:
          'implode: the group of an event, usually `=<explode action>.explode_id`; deduplicate: the value that identifies repeats.',
      },
      size: { description: 'implode: how many events complete a group, usually `=<explode action>.size`.' },
      item: { description: 'implode: what to collect from each event; default the whole event.' },
      timeout: seconds('implode: seconds to wait for a group to fill before emitting what arrived. Default 60.'),
      period: seconds('deduplicate: seconds a key is remembered; throttle: length of a window in seconds.'),
      lookback: {
        type: 'integer',
        minimum: 1,
        maximum: 100000,
        description: 'deduplicate: remember only the last N keys instead of a period.',
      },
      seconds: seconds('delay: seconds to hold each event before passing it on.'),
      limit: { type: 'integer', minimum: 1, description: 'throttle: events passed per `period`.' },
      drop: {
        type: 'boolean',
        default: false,
        description: 'throttle: drop events over the limit instead of delaying them to a later window.',
      },
      text: { description: 'extract: the text to search, usually a template or expression.' },
      pattern: { type: 'string', minLength: 1, description: 'extract: a JavaScript regular expression.' },
      flags: {
        type: 'string',
        pattern: '^[imsu]*$',
        description: 'extract: regular expression flags (i, m, s, u).',
      },
      all: { type: 'boolean', default: false, description: 'extract: every match instead of the first.' },
    },
    allOf: Object.entries(REQUIRED_BY_MODE).map(([mode, required]) => ({
      // Without `mode` the action is a message transform, so only other modes require it.
      if: { properties: { mode: { const: mode } }, required: mode === 'message' ? [] : ['mode'] },
      then: { required },
    })),
  },
  literalFields: ['mode', 'to', 'timeout', 'period', 'lookback', 'seconds', 'limit', 'drop', 'pattern', 'flags', 'all'],

  // Modes that keep state must commit it with their events, so they run as work items.
  inline: (action) => !STATEFUL_MODES.has(String(action.options['mode'] ?? 'message')),

  check(action: ActionSpec): LoadProblem[] {
    const pattern = action.options['pattern'];
    if (typeof pattern !== 'string') return [];
    try {
      new RegExp(pattern, String(action.options['flags'] ?? ''));
      return [];
    } catch (error) {
      const message = `invalid regular expression: ${(error as Error).message}`;
      return [{ code: 'invalid_regex', message, field: 'pattern', position: action.fieldPositions['pattern'] }];
    }
  },

  async run(input) {
    const mode = String(input.action.options['mode'] ?? 'message');
    const runMode = MODE_RUNNERS[mode];
    if (!runMode) throw new ActionError(`unknown transform mode "${mode}"`);
    return runMode(input);
  },
};

