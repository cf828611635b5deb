/**
 * Removal of credential values from everything the engine writes: log lines, stored events,
 * trails, error messages and HTTP responses.
 *
 * A secret is replaced wherever it appears as a substring, in these forms: as written, URL-
 * encoded (`encodeURIComponent` and the form encoding with `+`), and base64 / base64url.
 * Base64 text is matched at all three byte alignments and the whole base64 token around a
 * match is replaced, which covers `Basic base64(user:secret)` and `base64(secret:)` headers.
 */
import type { Json } from '../types';

export const REDACTED = '[REDACTED]';

/**
 * Secrets shorter than this are replaced only where a whole string equals them. Replacing a
 * three-letter value inside every text would shred the logs without hiding anything real.
 */
export const MIN_SUBSTRING_SECRET_LENGTH = 4;

/** Base64 matching needs a distinctive core; shorter secrets give cores that occur by chance. */
const MIN_BASE64_SECRET_BYTES = 6;

/** Header names whose values are always replaced, whatever they contain. */
export const SENSITIVE_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-auth-token|.*signature.*|.*secret.*)$/i;

const BASE64_CHARS = /[A-Za-z0-9+/_-]/;

/** Marks an object whose copy is being made, so meeting it again means a cycle. */
const IN_PROGRESS = Symbol('in progress');

/** Copies made by one redaction, by original; fields of a `headers` object are redacted apart. */
interface Copies {
  plain: Map<object, unknown>;
  headers: Map<object, unknown>;
}

/** Keys whose object's fields are header values. */
const HEADERS_KEY = /headers$/i;

/** Nesting beyond which value() copies without checking first; walk also handles cycles. */
const MAX_CLEAN_CHECK_DEPTH = 100;

export class Redactor {
  private readonly exact: Set<string>;
  private readonly substrings: string[];
  private readonly base64Cores: string[];
  /** Matches any substring form or base64 core, so text without one is returned after one scan. */
  private readonly anyForm: RegExp | undefined;

  constructor(secrets: Iterable<string>) {
    this.exact = new Set();
    const substrings = new Set<string>();
    const cores = new Set<string>();
    for (const secret of secrets) {
      if (typeof secret !== 'string' || secret === '') continue;
      this.exact.add(secret);
      if (secret.length < MIN_SUBSTRING_SECRET_LENGTH) continue;
      for (const form of textForms(secret)) substrings.add(form);
      if (Buffer.byteLength(secret) >= MIN_BASE64_SECRET_BYTES) {
        for (const core of base64Cores(Buffer.from(secret))) cores.add(core);
      }
    }
    // Longest first, so a secret that contains another is replaced whole.
    this.substrings = [...substrings].sort((a, b) => b.length - a.length);
    this.base64Cores = [...cores];
    const forms = [...this.substrings, ...this.base64Cores];
    this.anyForm = forms.length === 0 ? undefined : new RegExp(forms.map(escapeRegExp).join('|'));
  }

  /** True when there is nothing to redact, so callers can skip the walk. */
  get empty(): boolean {
    return this.exact.size === 0;
  }

  /** Replaces every known form of every secret in a string. */
  string(text: string): string {
    if (this.exact.has(text)) return REDACTED;
    if (this.anyForm === undefined || !this.anyForm.test(text)) return text;
    let result = text;
    for (const form of this.substrings) {
      if (result.includes(form)) result = result.split(form).join(REDACTED);
    }
    for (const core of this.base64Cores) {
      result = replaceBase64Token(result, core);
    }
    return result;
  }

  /**
   * Returns the value with every string redacted and the values of sensitive headers
   * (SENSITIVE_HEADER names inside an object under a `headers` key) replaced: the input itself
   * when nothing needs replacing, else a deep copy. Cycles become `[Circular]`; non-JSON leaves
   * are kept. Callers must not modify what it returns.
   */
  value<T>(input: T): T {
    // Most values hold no secret: returning them as they are saves a deep copy per event.
    if (this.isClean(input, false, 0, new Set())) return input;
    return this.walk(input, { plain: new Map(), headers: new Map() }, false) as T;
  }

  /** Returns a JSON-safe description of an error, with message, stack and cause redacted. */
  error(error: unknown): Json {
    return this.value(describeError(error, 0));
  }

  /**
   * True when `walk` would return an equal value: plain JSON data without a secret, a
   * sensitive header or anything walk converts (errors, buffers, class instances). Deep values
   * count as not clean, and so does an object reached twice (`seen`), a cycle or a shared
   * object, which walk copies once. Checking each object once keeps the check linear in a
   * value whose objects are shared many times over.
   */
  private isClean(input: unknown, inHeaders: boolean, depth: number, seen: Set<object>): boolean {
    if (typeof input === 'string') return this.string(input) === input;
    if (input === null || typeof input !== 'object') return true;
    if (depth > MAX_CLEAN_CHECK_DEPTH || seen.has(input)) return false;
    seen.add(input);
    if (Array.isArray(input)) {
      for (const item of input) if (!this.isClean(item, false, depth + 1, seen)) return false;
      return true;
    }
    const prototype = Object.getPrototypeOf(input) as unknown;
    if (prototype !== Object.prototype && prototype !== null) return false;
    for (const key of Object.keys(input)) {
      if (this.string(key) !== key) return false;
      const value = (input as Record<string, unknown>)[key];
      if (inHeaders && SENSITIVE_HEADER.test(key) && (typeof value === 'string' || Array.isArray(value))) return false;
      if (!this.isClean(value, HEADERS_KEY.test(key), depth + 1, seen)) return false;
    }
    return true;
  }

  /** `inHeaders` is true for the direct fields of an object stored under a `headers` key. */
  private walk(input: unknown, copies: Copies, inHeaders: boolean): unknown {
    if (typeof input === 'string') return this.string(input);
    if (input === null || typeof input !== 'object') return input;
    // Each object is copied once: met again inside its own copy it is a cycle and becomes
    // `[Circular]`, met again elsewhere it is shared and the same copy is used.
    const memo = inHeaders ? copies.headers : copies.plain;
    const known = memo.get(input);
    if (known === IN_PROGRESS) return '[Circular]';
    if (known !== undefined || memo.has(input)) return known;
    memo.set(input, IN_PROGRESS);
    const copy = this.copy(input, copies, inHeaders);
    memo.set(input, copy);
    return copy;
  }

  private copy(input: object, copies: Copies, inHeaders: boolean): unknown {
    if (input instanceof Error) return this.walk(describeError(input, 0), copies, false);
    if (Buffer.isBuffer(input)) return this.string(input.toString('utf8'));
    if (Array.isArray(input)) return input.map((item) => this.walk(item, copies, false));
    if (input instanceof Date) return input;

    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input)) {
      const redactedKey = this.string(key);
      const redactedValue =
        inHeaders && SENSITIVE_HEADER.test(key) && (typeof value === 'string' || Array.isArray(value))
          ? REDACTED
          : this.walk(value, copies, HEADERS_KEY.test(key));
      // Assigning `__proto__` would set the copy's prototype instead of adding a field.
      if (redactedKey === '__proto__') {
        Object.defineProperty(copy, redactedKey, {
          value: redactedValue,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        copy[redactedKey] = redactedValue;
      }
    }
    return copy;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Lists the textual forms a secret takes in URLs, query strings and form bodies. */
function textForms(secret: string): string[] {
  const forms = [secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)];
  // Some encoders (PHP, older Java) use lower-case percent escapes.
  forms.push(encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()));
  return [...new Set(forms)];
}

/**
 * Returns, for each byte alignment 0, 1 and 2, the base64 characters that depend only on the
 * secret's bytes, in both the standard and the URL-safe alphabet. Any base64 text of a
 * message containing the secret contains one of these cores.
 */
function base64Cores(secret: Buffer): string[] {
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset += 1) {
    const padded = Buffer.concat([Buffer.alloc(offset), secret, Buffer.alloc(3)]);
    const encoded = padded.toString('base64');
    const first = Math.ceil((offset * 4) / 3);
    const lastByte = offset + secret.length;
    // Character i depends on bits [6i, 6i + 6); keep those that end inside the secret.
    const last = Math.floor((lastByte * 8) / 6);
    const core = encoded.slice(first, last);
    cores.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...new Set(cores)].filter((core) => core.length >= 4);
}

/** Replaces each base64 token (a run of base64 characters and padding) that contains `core`. */
function replaceBase64Token(text: string, core: string): string {
  let result = text;
  let from = 0;
  for (;;) {
    const index = result.indexOf(core, from);
    if (index < 0) return result;
    let start = index;
    while (start > 0 && BASE64_CHARS.test(result[start - 1])) start -= 1;
    let end = index + core.length;
    while (end < result.length && BASE64_CHARS.test(result[end])) end += 1;
    while (end < result.length && result[end] === '=') end += 1;
    result = result.slice(0, start) + REDACTED + result.slice(end);
    from = start + REDACTED.length;
  }
}

/** Describes an error as plain data, following `cause` and `AggregateError.errors` a few levels. */
function describeError(error: unknown, depth: number): Json {
  if (!(error instanceof Error)) return { message: String(error) };
  const described: Record<string, Json> = { type: error.name, message: error.message };
  if (error.stack !== undefined) described.stack = error.stack;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') described.code = code;
  if (depth < 3 && error.cause !== undefined) described.cause = describeError(error.cause, depth + 1);
  if (depth < 3 && error instanceof AggregateError) {
    described.errors = error.errors.slice(0, 10).map((inner) => describeError(inner, depth + 1));
  }
  return described;
}

/** The redaction calls the pino options need; both Redactor and SecretRegistry provide them. */
export interface RedactionFunctions {
  string(text: string): string;
  value<T>(input: T): T;
  error(error: unknown): Json;
}

/**
 * A Redactor whose secrets can grow, for process-wide use such as a logger created before the
 * stories (and so their credentials) are loaded.
 */
export class SecretRegistry implements RedactionFunctions {
  private readonly secrets = new Set<string>();
  private redactor = new Redactor([]);

  add(secrets: Iterable<string>): void {
    const before = this.secrets.size;
    for (const secret of secrets) if (typeof secret === 'string' && secret !== '') this.secrets.add(secret);
    if (this.secrets.size !== before) this.redactor = new Redactor(this.secrets);
  }

  string(text: string): string {
    return this.redactor.string(text);
  }

  value<T>(input: T): T {
    return this.redactor.value(input);
  }

  error(error: unknown): Json {
    return this.redactor.error(error);
  }
}

/**
 * pino `redact` paths for the places where request and response headers usually sit in log
 * objects. The formatter and serializers from `createPinoOptions` catch the rest.
 */
export function pinoRedactPaths(extraHeaders: string[] = []): string[] {
  const headers = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-hub-signature-256', 'x-signature'];
  const names = [...headers, ...extraHeaders.map((name) => name.toLowerCase())];
  const parents = ['headers', 'req.headers', 'res.headers', 'request.headers', 'response.headers', '*.headers'];
  return parents.flatMap((parent) => names.map((name) => `${parent}["${name}"]`));
}

/**
 * pino options that redact credentials: header paths, a log formatter that deep-redacts every
 * logged object, an `err` serializer, and a hook that redacts the message text.
 */
export function createPinoOptions(redactor: RedactionFunctions, extraHeaders: string[] = []) {
  return {
    redact: { paths: pinoRedactPaths(extraHeaders), censor: REDACTED },
    formatters: {
      log: (object: Record<string, unknown>) => redactor.value(object),
    },
    // The log formatter runs first and has already turned errors into plain objects.
    serializers: {
      err: (error: unknown) => (error instanceof Error ? redactor.error(error) : redactor.value(error)),
      error: (error: unknown) => (error instanceof Error ? redactor.error(error) : redactor.value(error)),
    },
    hooks: {
      logMethod(this: unknown, args: unknown[], method: (...inner: unknown[]) => void) {
        method.apply(this, args.map((arg) => (typeof arg === 'string' ? redactor.string(arg) : arg)));
      },
    },
  };
}
