/** Parsing of durations (`30d`, `1h`) and points in time (`1h` ago, an ISO date) for options. */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses `90s`, `15m`, `1h`, `30d` or `2w` into ms. Errors name the flag `option`. */
export function parseDuration(value: string, option: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/i.exec(value);
  if (!match) {
    throw new Error(
      `invalid ${option} value "${value}": expected a number and a unit (ms, s, m, h, d, w), ` +
        'such as 30d or 1h',
    );
  }
  const ms = Number(match[1]) * UNIT_MS[match[2].toLowerCase()];
  if (ms <= 0) throw new Error(`invalid ${option} value "${value}": the duration must be positive`);
  return ms;
}

/**
 * Parses `--since`: a duration back from `now` (`1h`) or an ISO 8601 date, into epoch ms.
 */
export function parseSince(value: string, now = Date.now()): number {
  if (/^\s*\d+(?:\.\d+)?\s*(ms|s|m|h|d|w)\s*$/i.test(value)) {
    return now - parseDuration(value, '--since');
  }
  const time = /^\d{4}-\d{2}-\d{2}/.test(value.trim()) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) {
    throw new Error(
      `invalid --since value "${value}": expected a duration such as 1h or 7d, ` +
        'or an ISO date such as 2026-01-31T12:00:00Z',
    );
  }
  return time;
}
