/**
 * Authentication of incoming webhooks: a shared secret (last path segment or a header) and
 * HMAC signatures over the raw request body, optionally bound to a timestamp header.
 *
 * Every comparison hashes both sides with SHA-256 first and compares the digests with
 * `crypto.timingSafeEqual`, so neither the content nor the length of the expected value leaks
 * through timing. A failed check returns a reason for the logs, but the HTTP response built by
 * `unauthorizedResponse` is the same for every reason, so a caller cannot probe which part failed.
 */
import { createHash, createHmac, getHashes, timingSafeEqual } from 'node:crypto';
import type { WebhookAuthSpec } from '../types';

/** Location of a shared secret: the last path segment of the webhook URL or a header. */
export type SecretLocation = { in: 'path' } | { in: 'header'; header: string };

export interface SecretCheck {
  secret: string;
  location: SecretLocation;
}

/** HMAC signature scheme of a sender. */
export interface SignatureCheck {
  secret: string;
  /** Header carrying the signature, such as `x-hub-signature-256`. Case-insensitive. */
  header: string;
  /** HMAC digest algorithm as Node's crypto names it. Default `sha256`. */
  algorithm?: string;
  /** Text before the digest in the header. Default `<algorithm>=`, so `sha256=<hex>`. */
  prefix?: string;
  /** Digest encoding in the header. Default `hex`. */
  encoding?: 'hex' | 'base64';
  /**
   * Header carrying a Unix timestamp (seconds, or milliseconds when 13 digits or more). When
   * set, the signed message is `<timestamp><timestampSeparator><raw body>` and requests older
   * or newer than `toleranceSeconds` are rejected, which stops replays of captured requests.
   */
  timestampHeader?: string;
  /** Text between timestamp and body in the signed message. Default `.`. */
  timestampSeparator?: string;
  /** Largest accepted clock difference in seconds. Default 300. */
  toleranceSeconds?: number;
}

export interface WebhookAuthConfig {
  secret?: SecretCheck;
  signature?: SignatureCheck;
}

/** Credentials and body of a webhook request, as input to the checks. */
export interface PresentedCredentials {
  /** Header values by lower-case name, as in Node's `IncomingMessage.headers`. */
  headers: Record<string, string | string[] | undefined>;
  /** The last path segment when the route carries a secret segment. */
  pathSecret?: string;
  /** Request body exactly as received, before any decoding. */
  rawBody: Buffer;
  /** Current time in milliseconds; tests pass a fixed clock. */
  now?: number;
}

export type AuthOutcome = { ok: true } | { ok: false; reason: string };

export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Compares two values in time independent of their content and length. */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const digestA = createHash('sha256').update(a).digest();
  const digestB = createHash('sha256').update(b).digest();
  return timingSafeEqual(digestA, digestB);
}

/**
 * Checks a request against the configured secret and signature. Both must pass when both are
 * configured. The reason names the failed part for logs and never contains a secret value.
 */
export function verifyWebhook(config: WebhookAuthConfig, request: PresentedCredentials): AuthOutcome {
  if (config.secret !== undefined) {
    const outcome = verifySecret(config.secret, request);
    if (!outcome.ok) return outcome;
  }
  if (config.signature !== undefined) {
    const outcome = verifySignature(config.signature, request);
    if (!outcome.ok) return outcome;
  }
  return { ok: true };
}

export function verifySecret(check: SecretCheck, request: PresentedCredentials): AuthOutcome {
  let presented: string | undefined;
  let where: string;
  if (check.location.in === 'path') {
    presented = request.pathSecret;
    where = 'path segment';
  } else {
    const header = readSingleHeader(request.headers, check.location.header);
    if (!header.ok) return header;
    presented = header.value;
    where = `header ${check.location.header.toLowerCase()}`;
  }
  if (presented === undefined || presented === '') {
    return { ok: false, reason: `webhook secret missing from the ${where}` };
  }
  if (!constantTimeEqual(presented, check.secret)) {
    return { ok: false, reason: `webhook secret in the ${where} does not match` };
  }
  return { ok: true };
}

export function verifySignature(check: SignatureCheck, request: PresentedCredentials): AuthOutcome {
  const algorithm = check.algorithm ?? 'sha256';
  const prefix = check.prefix ?? `${algorithm}=`;
  const encoding = check.encoding ?? 'hex';
  const headerName = check.header.toLowerCase();

  const header = readSingleHeader(request.headers, headerName);
  if (!header.ok) return header;
  if (header.value === undefined || header.value === '') {
    return { ok: false, reason: `signature header ${headerName} missing` };
  }
  if (!header.value.startsWith(prefix)) {
    return { ok: false, reason: `signature header ${headerName} does not start with "${prefix}"` };
  }
  const presented = header.value.slice(prefix.length).trim();

  const unknown = checkSignatureAlgorithm(algorithm);
  if (unknown !== undefined) return { ok: false, reason: unknown };
  const hmac = createHmac(algorithm.toLowerCase(), check.secret);
  if (check.timestampHeader !== undefined) {
    const timestamp = verifyTimestamp(check, request);
    if (!timestamp.ok) return timestamp;
    hmac.update(`${timestamp.value}${check.timestampSeparator ?? '.'}`);
  }
  hmac.update(request.rawBody);
  const expected = hmac.digest(encoding);

  // Hex digests compare case-insensitively; base64 is case-sensitive by definition.
  const normalized = encoding === 'hex' ? presented.toLowerCase() : presented;
  if (!constantTimeEqual(normalized, expected)) {
    return { ok: false, reason: `signature in header ${headerName} does not match the body` };
  }
  return { ok: true };
}

function verifyTimestamp(
  check: SignatureCheck,
  request: PresentedCredentials,
): { ok: true; value: string } | { ok: false; reason: string } {
  const headerName = (check.timestampHeader as string).toLowerCase();
  const header = readSingleHeader(request.headers, headerName);
  if (!header.ok) return header;
  const value = header.value?.trim();
  if (value === undefined || value === '') {
    return { ok: false, reason: `timestamp header ${headerName} missing` };
  }
  if (!/^\d{1,16}$/.test(value)) {
    return { ok: false, reason: `timestamp header ${headerName} is not a Unix time in digits` };
  }
  const sentMs = value.length >= 13 ? Number(value) : Number(value) * 1000;
  const now = request.now ?? Date.now();
  const tolerance = check.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skewSeconds = Math.abs(now - sentMs) / 1000;
  if (skewSeconds > tolerance) {
    return {
      ok: false,
      reason: `timestamp in header ${headerName} is ${Math.round(skewSeconds)} s away from now, more than the tolerance of ${tolerance} s`,
    };
  }
  return { ok: true, value };
}

/** Reads a header that must appear once; a repeated header is ambiguous, so it fails. */
function readSingleHeader(
  headers: PresentedCredentials['headers'],
  name: string,
): { ok: true; value: string | undefined } | { ok: false; reason: string } {
  const value = headers[name.toLowerCase()];
  if (Array.isArray(value)) {
    if (value.length > 1) return { ok: false, reason: `header ${name.toLowerCase()} sent more than once` };
    return { ok: true, value: value[0] };
  }
  return { ok: true, value };
}

/**
 * Resolves a webhook's authentication spec against the story's credential values. A name
 * that the story does not declare is added to `missing` as a message naming the webhook. A
 * declared credential without a value was already reported by the caller.
 */
export function resolveWebhookAuth(
  spec: WebhookAuthSpec | undefined,
  credentials: Record<string, string>,
  declared: ReadonlySet<string>,
  where: string,
  missing: string[],
): WebhookAuthConfig | undefined {
  if (spec === undefined) return undefined;
  const lookup = (field: string, name: string): string | undefined => {
    if (!declared.has(name)) {
      const known = [...declared].join(', ') || 'none';
      missing.push(
        `${where}: ${field}.credential is "${name}", which is not a credential of the story ` +
          `(declared: ${known}); add it under credentials:`,
      );
    }
    return credentials[name];
  };

  const config: WebhookAuthConfig = {};
  if (spec.secret !== undefined) {
    const secret = lookup('secret', spec.secret.credential);
    const header = spec.secret.header;
    if (secret !== undefined) {
      config.secret = { secret, location: header === undefined ? { in: 'path' } : { in: 'header', header } };
    }
  }
  if (spec.signature !== undefined) {
    const { credential, ...scheme } = spec.signature;
    const secret = lookup('signature', credential);
    if (secret !== undefined) config.signature = { ...scheme, secret };
  }
  return config;
}

/**
 * Checks that this Node build supports an HMAC algorithm, for load-time validation. Returns the
 * problem text naming the common choices, or undefined when the algorithm is known.
 */
export function checkSignatureAlgorithm(algorithm: string): string | undefined {
  const known = getHashes();
  if (known.includes(algorithm.toLowerCase())) return undefined;
  const common = ['sha1', 'sha256', 'sha384', 'sha512'].filter((name) => known.includes(name));
  return `unknown HMAC algorithm "${algorithm}"; use one of ${common.join(', ')}`;
}

/**
 * Builds the HTTP response to any failed check. It is identical for every reason, so a caller learns
 * nothing about which part (secret, signature, timestamp) was wrong.
 */
export function unauthorizedResponse(): { status: 401; body: { error: string; message: string } } {
  return {
    status: 401,
    body: {
      error: 'unauthorized',
      message: 'The webhook credentials are missing or invalid.',
    },
  };
}
