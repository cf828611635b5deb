/**
 * The default HTTP transport: undici with one keep-alive agent per outbound policy, every
 * status returned as data. Connections pass the outbound guard (security/outbound.ts):
 * metadata and link-local addresses are always rejected, private and loopback ones unless the
 * story allows them. Redirects are followed here, hop by hop, through the same guard.
 */
import type { Dispatcher } from 'undici';
import { decodeBody, pathWithQuery, ResponseBodyError } from './http-body';
import { createGuardedAgent, OutboundBlockedError, type OutboundPolicy } from './security/outbound';
import type { HttpRequest, HttpResponse, HttpTransport } from './types';

/** Network failure of a request, with the system code (ECONNREFUSED, ETIMEDOUT, ...). */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

export interface HttpClientOptions extends OutboundPolicy {
  /** Maximum redirects followed before failing. Default 5. */
  maxRedirects?: number;
  /** Maximum response body size in bytes, after decompression. Default 10 MiB. */
  maxResponseBytes?: number;
  /**
   * Maximum wait for the response headers, and maximum pause between body chunks, in
   * milliseconds. Default: the request's `timeoutMs`, so only the total limit applies.
   * NOTE: undici 7 checks these on a timer that ticks every 499 ms, so they can fire about
   * half a second early or up to a second late (200 ms fired after 0.6 to 1 s in the tests).
   * The total limit uses a plain timer.
   */
  inactivityTimeoutMs?: number;
  /** Headers dropped on a redirect to another origin, beyond the standard credential headers. */
  sensitiveHeaders?: string[];
  /** Maximum connections open per origin. Default 64. */
  connections?: number;
}

export const HTTP_CLIENT_DEFAULTS = {
  maxRedirects: 5,
  maxResponseBytes: 10 * 1024 * 1024,
  /** Total time limit used when a request's `timeoutMs` is not a positive number of at most 2^31 - 1. */
  timeoutMs: 60_000,
} as const;

/** Sent unless the request sets them. The Accept value is the one axios sent before. */
const DEFAULT_HEADERS: Record<string, string> = {
  accept: 'application/json, text/plain, */*',
  'user-agent': 'story-engine',
};

const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** undici error codes and the system codes that callers' retry rules understand. */
const UNDICI_CODES: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_HEADERS_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_BODY_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_SOCKET: 'ECONNRESET',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'ECONNRESET',
  UND_ERR_CLOSED: 'ECONNABORTED',
  UND_ERR_DESTROYED: 'ECONNABORTED',
  UND_ERR_HEADERS_OVERFLOW: 'ERR_BAD_RESPONSE',
  UND_ERR_INVALID_ARG: 'ERR_INVALID_ARG',
  UND_ERR_NOT_SUPPORTED: 'ERR_INVALID_ARG',
};

/** The state of one request across its redirects. */
interface Hop {
  /** Scheme, host and port, as URL.origin writes them. */
  origin: string;
  /** Path and query string. */
  path: string;
  method: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

/**
 * Creates a transport that sends each request through a guarded keep-alive agent, follows at
 * most `maxRedirects` redirects and ends the request, with a TransportError, when the body
 * exceeds `maxResponseBytes`, when it stalls, or when `request.timeoutMs` has passed since it
 * started. Non-2xx statuses are returned as data. The request's `allowPrivateNetworks` is
 * ignored: the client's policy decides.
 */
export function createHttpClient(options: HttpClientOptions = {}): HttpTransport {
  const agent = createGuardedAgent(options, { connections: options.connections });
  const maxRedirects = options.maxRedirects ?? HTTP_CLIENT_DEFAULTS.maxRedirects;
  const maxResponseBytes = options.maxResponseBytes ?? HTTP_CLIENT_DEFAULTS.maxResponseBytes;
  const sensitive = new Set([...CREDENTIAL_HEADERS, ...(options.sensitiveHeaders ?? []).map((name) => name.toLowerCase())]);

  return async (request: HttpRequest): Promise<HttpResponse> => {
    const totalMs = isValidTimeout(request.timeoutMs) ? request.timeoutMs : HTTP_CLIENT_DEFAULTS.timeoutMs;
    const inactivityMs = Math.min(options.inactivityTimeoutMs ?? totalMs, totalMs);
    const deadline = new Deadline(totalMs, request.signal);
    try {
      const hop = firstHop(request);
      for (let redirects = 0; ; redirects += 1) {
        const response = await send(agent, hop, { inactivityMs, maxResponseBytes, deadline });
        const location = response.headers['location'];
        if (!REDIRECT_STATUSES.has(response.status) || location === undefined) {
          const body = await decodeBody(response, hop.method, maxResponseBytes);
          deadline.throwIfEnded();
          return { ...response, body };
        }
        if (redirects >= maxRedirects) {
          throw new TransportError('Maximum number of redirects exceeded', 'ERR_TOO_MANY_REDIRECTS');
        }
        followRedirect(hop, response.status, location, sensitive);
      }
    } catch (error) {
      throw toTransportError(error, deadline, inactivityMs);
    } finally {
      deadline.settle();
    }
  };
}

/** Maximum delay of setTimeout in ms; Node fires a larger one after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function isValidTimeout(ms: number): boolean {
  return Number.isFinite(ms) && ms > 0 && ms <= MAX_TIMER_MS;
}

function firstHop(request: HttpRequest): Hop {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch (error) {
    if (error instanceof TypeError) throw new TransportError(`Invalid URL ${JSON.stringify(request.url)}`, 'ERR_INVALID_URL');
    throw error;
  }
  checkProtocol(url);

  // Object.assign, not a spread: keys added to a spread copy are slow in V8 (see withEntry).
  const headers: Record<string, string> = Object.assign({}, DEFAULT_HEADERS);
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  // User information in the URL becomes Basic authentication unless the request sets its own.
  if ((url.username !== '' || url.password !== '') && !('authorization' in headers)) {
    const credentials = `${decodeUserInfo(url.username)}:${decodeUserInfo(url.password)}`;
    headers['authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  return {
    origin: url.origin,
    path: pathWithQuery(url, request.query),
    method: request.method.toUpperCase(),
    headers,
    body: request.body,
  };
}

/** Decodes a percent-encoded user name or password, keeping it as written when invalid. */
function decodeUserInfo(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function checkProtocol(url: URL): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TransportError(`Unsupported protocol ${url.protocol} in ${url.href}`, 'ERR_BAD_REQUEST');
  }
}

/**
 * Turns `hop` into the request for a redirect's target. A 303, and a 301 or 302 after a POST,
 * become a GET without body (as browsers and axios do). Credential headers, the Host header
 * and the configured sensitive headers are dropped when the redirect leaves the origin
 * (scheme, host and port) of the request before it, so a token sent to one server never
 * reaches another, subdomains included.
 */
function followRedirect(hop: Hop, status: number, location: string, sensitive: ReadonlySet<string>): void {
  const current = `${hop.origin}${hop.path}`;
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw new TransportError(`Invalid redirect location ${JSON.stringify(location)} from ${current}`, 'ERR_BAD_RESPONSE');
  }
  checkProtocol(next);

  const toGet = (status === 303 && hop.method !== 'HEAD') || ((status === 301 || status === 302) && hop.method === 'POST');
  if (toGet) {
    hop.method = 'GET';
    hop.body = undefined;
    for (const name of Object.keys(hop.headers)) {
      if (name.startsWith('content-')) delete hop.headers[name];
    }
  }
  if (next.origin !== hop.origin) {
    for (const name of Object.keys(hop.headers)) {
      if (sensitive.has(name) || name === 'host') delete hop.headers[name];
    }
  }
  hop.origin = next.origin;
  hop.path = `${next.pathname}${next.search}`;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

interface SendLimits {
  inactivityMs: number;
  maxResponseBytes: number;
  deadline: Deadline;
}

/** Sends one hop and collects its response, enforcing the size limit on the bytes received. */
function send(agent: Dispatcher, hop: Hop, limits: SendLimits): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const handler = new CollectingHandler(limits, resolve, reject);
    agent.dispatch(
      {
        origin: hop.origin,
        path: hop.path,
        method: hop.method as Dispatcher.HttpMethod,
        headers: hop.headers,
        body: hop.body,
        headersTimeout: limits.inactivityMs,
        bodyTimeout: limits.inactivityMs,
      },
      handler,
    );
  });
}

/**
 * An undici dispatch handler that buffers the response body. It settles its promise once:
 * with the response at the end of the body, or with the first error, the size limit or the
 * deadline, whichever comes first.
 */
class CollectingHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private headers: Record<string, string> = {};
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private settled = false;
  private readonly stopListening: () => void;

  constructor(
    private readonly limits: SendLimits,
    private readonly resolve: (response: RawResponse) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.stopListening = limits.deadline.onAbort((reason) => this.fail(reason));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(new Error('Request already ended by its time limit or by the caller'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (status < 200) return;
    this.status = status;
    this.headers = flatHeaders(headers);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.received += chunk.length;
    if (this.received > this.limits.maxResponseBytes) {
      this.fail(ResponseBodyError.tooLarge(this.limits.maxResponseBytes));
      return;
    }
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.stopListening();
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.received);
    this.resolve({ status: this.status, headers: this.headers, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.stopListening();
    this.reject(error);
  }

  /** Rejects now and aborts the request if it has started; a request still queued aborts in onRequestStart. */
  private fail(reason: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.stopListening();
    this.reject(reason);
    if (this.controller !== undefined && !this.controller.aborted) {
      this.controller.abort(reason instanceof Error ? reason : new Error(String(reason)));
    }
  }
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    result[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}

/**
 * The total time limit of one request and the caller's signal, as one abort notification.
 * Everything is released by `settle` as soon as the request ends: unlike AbortSignal.timeout
 * with AbortSignal.any, no signal lives until its timer fires or collects on a long-lived
 * caller signal.
 */
class Deadline {
  timedOut = false;
  canceled = false;
  private listener: ((reason: unknown) => void) | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onCallerAbort = (): void => {
    this.canceled = true;
    this.listener?.(canceledError());
  };

  constructor(
    readonly ms: number,
    private readonly callerSignal: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.listener?.(timeLimitError(ms));
    }, ms);
    this.timer.unref();
    callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  /** Calls `listener` when the request must end; returns the function that stops it. */
  onAbort(listener: (reason: unknown) => void): () => void {
    const ended = this.endedError();
    if (ended !== undefined) listener(ended);
    else this.listener = listener;
    return () => {
      this.listener = undefined;
    };
  }

  /** Throws when the time limit has passed or the caller has canceled, between steps that have no listener. */
  throwIfEnded(): void {
    const ended = this.endedError();
    if (ended !== undefined) throw ended;
  }

  private endedError(): TransportError | undefined {
    if (this.timedOut) return timeLimitError(this.ms);
    if (this.canceled || this.callerSignal?.aborted === true) return canceledError();
    return undefined;
  }

  settle(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }
}

function timeLimitError(ms: number): TransportError {
  return new TransportError(`Request exceeded the total time limit of ${ms} ms`, 'ETIMEDOUT');
}

function canceledError(): TransportError {
  return new TransportError('Request canceled', 'ERR_CANCELED');
}

/** Maps undici, system and policy errors to a TransportError with a code callers retry on. */
function toTransportError(error: unknown, deadline: Deadline, inactivityMs: number): unknown {
  if (error instanceof TransportError) return error;
  if (error instanceof OutboundBlockedError) return new TransportError(error.message, error.code, { cause: error });
  // A timer that fired during a connect or a write may surface as another error first.
  if (deadline.timedOut) return timeLimitError(deadline.ms);
  if (deadline.canceled) return canceledError();

  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== 'string') return error;
  // A socket error from undici usually carries the system error (ECONNRESET, EPIPE) as its cause.
  const causeCode = (error.cause as { code?: unknown } | undefined)?.code;
  if (code === 'UND_ERR_SOCKET' && typeof causeCode === 'string' && !causeCode.startsWith('UND_')) {
    return new TransportError(`${error.message} (${causeCode})`, causeCode, { cause: error });
  }
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new TransportError(`No response headers within ${inactivityMs} ms`, 'ETIMEDOUT', { cause: error });
    case 'UND_ERR_BODY_TIMEOUT':
      return new TransportError(`Response body stalled for more than ${inactivityMs} ms`, 'ETIMEDOUT', { cause: error });
    case 'UND_ERR_SOCKET':
      return new TransportError(`Connection closed by the server: ${error.message}`, 'ECONNRESET', { cause: error });
    default:
      return new TransportError(error.message, UNDICI_CODES[code] ?? code, { cause: error });
  }
}

const transports = {
  strict: createHttpClient({ allowPrivateNetworks: false }),
  allowingPrivate: createHttpClient({ allowPrivateNetworks: true }),
};

/** The engine's transport: picks the client for the request's `allowPrivateNetworks`. */
export const defaultTransport: HttpTransport = (request) =>
  request.allowPrivateNetworks === true ? transports.allowingPrivate(request) : transports.strict(request);

/**
 * The default transport with private and loopback addresses allowed for every story, for tests
 * and local tools whose upstream servers listen on 127.0.0.1. Metadata addresses stay blocked.
 */
export const privateNetworkTransport: HttpTransport = (request) => transports.allowingPrivate(request);
