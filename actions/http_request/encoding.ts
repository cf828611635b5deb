/** Request body encoding and response reading for http_request. */
import type { Json } from '../../engine/types';

export const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/** Encodes `body` as `contentType` names and sets Content-Type unless the story set one. */
export function encodeBody(
  body: unknown,
  contentType: string,
  headers: Record<string, string>,
): string | undefined {
  if (body === undefined) return undefined;
  let encoded: string;
  let mediaType: string;
  if (contentType === 'form') {
    const form = new URLSearchParams();
    if (body !== null && typeof body === 'object') {
      for (const [key, value] of Object.entries(body)) {
        form.append(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
      }
    } else {
      return String(body);
    }
    encoded = form.toString();
    mediaType = 'application/x-www-form-urlencoded';
  } else if (contentType === 'text') {
    encoded = typeof body === 'string' ? body : JSON.stringify(body);
    mediaType = 'text/plain; charset=utf-8';
  } else {
    encoded = JSON.stringify(body);
    mediaType = 'application/json';
  }
  if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = mediaType;
  return encoded;
}

/** Picks the most useful reason from an error body: Fleet's errors[0].reason, message, or text. */
export function failureReason(body: Json): string {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const errors = body['errors'];
    if (Array.isArray(errors) && errors[0] && typeof errors[0] === 'object') {
      const first = errors[0] as Record<string, Json>;
      if (typeof first['reason'] === 'string') return first['reason'];
    }
    for (const key of ['message', 'error', 'detail']) {
      const value = body[key];
      if (typeof value === 'string') return value;
    }
    return JSON.stringify(body).slice(0, 300);
  }
  const text = typeof body === 'string' ? body.trim() : JSON.stringify(body);
  return text === '' ? '(empty body)' : text.slice(0, 300);
}

/** Reads Retry-After (seconds or an HTTP date) as milliseconds from now. */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
