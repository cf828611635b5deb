/**
 * Handlebars helpers available in every story template. Helpers receive Handlebars' options
 * object as their last argument, which `values` strips.
 */
import { randomUUID } from 'node:crypto';
import type { HelperDelegate } from 'handlebars';

type HelperArgs = unknown[];

function values(args: HelperArgs): unknown[] {
  return args.slice(0, -1);
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const XML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** Formats a date: `iso` (default), `unix`, `unix_ms`, or a pattern of YYYY MM DD HH mm ss (UTC). */
export function formatTime(date: Date, format: string): string {
  if (format === 'iso') return date.toISOString();
  if (format === 'unix') return String(Math.floor(date.getTime() / 1000));
  if (format === 'unix_ms') return String(date.getTime());
  const fields: Record<string, string> = {
    YYYY: String(date.getUTCFullYear()),
    MM: pad(date.getUTCMonth() + 1),
    DD: pad(date.getUTCDate()),
    HH: pad(date.getUTCHours()),
    mm: pad(date.getUTCMinutes()),
    ss: pad(date.getUTCSeconds()),
  };
  return format.replace(/YYYY|MM|DD|HH|mm|ss/g, (token) => fields[token] ?? token);
}

function base64Encode(...args: HelperArgs): string {
  return Buffer.from(text(values(args)[0]), 'utf8').toString('base64');
}

export const HELPERS: Record<string, HelperDelegate> = {
  uuid: () => randomUUID(),
  base64: base64Encode,
  base64_encode: base64Encode,
  base64_decode: (...args: HelperArgs) =>
    Buffer.from(text(values(args)[0]), 'base64').toString('utf8'),
  json: (...args: HelperArgs) => JSON.stringify(values(args)[0] ?? null),
  url_encode: (...args: HelperArgs) => encodeURIComponent(text(values(args)[0])),
  xml_escape: (...args: HelperArgs) =>
    text(values(args)[0]).replace(/[&<>"']/g, (char) => XML_ENTITIES[char] ?? char),
  now: (...args: HelperArgs) => {
    const [format] = values(args);
    return formatTime(new Date(), typeof format === 'string' ? format : 'iso');
  },
  default: (...args: HelperArgs) => {
    const [value, fallback] = values(args);
    return value === undefined || value === null || value === '' ? fallback : value;
  },
  eq: (...args: HelperArgs) => {
    const [left, right] = values(args);
    return left === right;
  },
  and: (...args: HelperArgs) => values(args).every(Boolean),
  or: (...args: HelperArgs) => values(args).some(Boolean),
  not: (...args: HelperArgs) => !values(args)[0],
};

export const HELPER_NAMES = new Set(Object.keys(HELPERS));
