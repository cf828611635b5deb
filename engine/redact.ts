/**
 * Replaces credential values in strings and JSON values before they are stored or logged.
 * The matching itself (plain, URL-encoded and base64 forms) lives in security/redact.ts.
 */
import { Redactor, SecretRegistry } from './security/redact';

export { REDACTED } from './security/redact';

export type Redact = <T>(value: T) => T;

/**
 * Secrets of every story loaded in this process. The logger from createLogger redacts them in
 * every line, so a secret logged by any module never reaches the output.
 */
export const knownSecrets = new SecretRegistry();

/** Builds a redactor for these secrets and adds them to `knownSecrets`. */
export function makeRedactor(secrets: string[]): Redact {
  knownSecrets.add(secrets);
  const redactor = new Redactor(secrets);
  return <T>(value: T) => redactor.value(value);
}
