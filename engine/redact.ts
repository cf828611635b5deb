/** Replaces credential values in strings and JSON values before they are stored or logged. */
import type { Json } from './types';

export const REDACTED = '[REDACTED]';

export type Redact = <T>(value: T) => T;

/** Builds a redactor for these secrets; secrets shorter than 4 characters are left alone. */
export function makeRedactor(secrets: string[]): Redact {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(Buffer.from(secret).toString('base64'));
  }
  const patterns = [...forms].sort((a, b) => b.length - a.length);
  if (patterns.length === 0) return (value) => value;
  const matcher = new RegExp(patterns.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  const redactValue = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replace(matcher, REDACTED);
    if (Array.isArray(value)) return value.map(redactValue);
    if (value !== null && typeof value === 'object') {
      const result: Record<string, unknown> = {};
      for (const [key, inner] of Object.entries(value)) result[key] = redactValue(inner);
      return result;
    }
    return value;
  };
  return <T>(value: T) => redactValue(value as Json) as T;
}
