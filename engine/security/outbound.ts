/**
 * Guard for outgoing HTTP requests (server-side request forgery). Every connection made
 * through the guarded agents is checked against the address it actually connects to.
 * Host names are checked after DNS resolution, in the agents' `lookup`, so a name that
 * resolves to a public address at validation time and to an internal one later (DNS
 * rebinding) is still caught. IP literals, which Node connects to without a lookup, are
 * checked in `createConnection`. Redirects go through the same agents.
 *
 * Policy: metadata, link-local, unspecified, multicast and reserved addresses are always
 * rejected. Private and loopback addresses are rejected unless the story sets
 * `allow_private_networks: true`.
 */
import * as dns from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import axios, { AxiosError, type AxiosInstance, type InternalAxiosRequestConfig } from 'axios';
import { classifyAddress, type AddressCategory } from './addresses';

/** Story-level setting that lets HTTP actions reach private and loopback addresses. */
export const ALLOW_PRIVATE_SETTING = 'allow_private_networks';

export interface OutboundPolicy {
  allowPrivateNetworks?: boolean;
}

const ALWAYS_REJECTED: ReadonlySet<AddressCategory> = new Set([
  'metadata',
  'link-local',
  'unspecified',
  'multicast',
  'reserved',
]);

const CATEGORY_TEXT: Record<AddressCategory, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private network address',
  'link-local': 'a link-local address',
  metadata: 'a cloud metadata address',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

/** An outgoing connection rejected by the policy; fields carry the data for logs and events. */
export class OutboundBlockedError extends Error {
  readonly code = 'EOUTBOUNDBLOCKED';
  readonly host: string;
  readonly address: string;
  readonly category: AddressCategory;

  constructor(host: string, address: string, category: AddressCategory) {
    const target = host === address ? `${address}` : `"${host}" (resolved to ${address})`;
    const advice = ALWAYS_REJECTED.has(category)
      ? 'requests to metadata, link-local, unspecified, multicast and reserved addresses are always rejected'
      : `set ${ALLOW_PRIVATE_SETTING}: true in the story if it must reach this host`;
    super(`Request to ${target} rejected: it is ${CATEGORY_TEXT[category]}; ${advice}.`);
    this.name = 'OutboundBlockedError';
    this.host = host;
    this.address = address;
    this.category = category;
  }
}

/** Returns the error for a connection the policy rejects, or undefined when it is allowed. */
export function checkOutboundAddress(
  host: string,
  address: string,
  policy: OutboundPolicy,
): OutboundBlockedError | undefined {
  const { category } = classifyAddress(address);
  if (category === 'public') return undefined;
  if (!ALWAYS_REJECTED.has(category) && policy.allowPrivateNetworks === true) return undefined;
  return new OutboundBlockedError(host, address, category);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * Builds a `lookup` for sockets and agents that resolves with `dns.lookup` and rejects the
 * connection when any resolved address is not allowed. All addresses are checked, not just
 * the first, because the socket may try the others (Happy Eyeballs).
 */
export function createGuardedLookup(policy: OutboundPolicy): LookupFunction {
  const lookup = (hostname: string, options: dns.LookupOptions | LookupCallback, callback?: LookupCallback): void => {
    const done = (typeof options === 'function' ? options : callback) as LookupCallback;
    const requested: dns.LookupOptions = typeof options === 'function' ? {} : options;

    dns.lookup(hostname, { ...requested, all: true }, (error, addresses) => {
      if (error !== null) {
        done(error, '');
        return;
      }
      for (const { address } of addresses) {
        const rejection = checkOutboundAddress(hostname, address, policy);
        if (rejection !== undefined) {
          done(rejection, '');
          return;
        }
      }
      if (requested.all === true) {
        done(null, addresses);
        return;
      }
      const [first] = addresses;
      done(null, first.address, first.family);
    });
  };
  return lookup as LookupFunction;
}

type CreateConnection = (options: Record<string, unknown>, callback: (error: Error | null, socket?: Duplex) => void) => Duplex | undefined;

/**
 * Wraps an agent's `createConnection` so every socket uses the guarded lookup (request
 * options cannot replace it) and IP-literal hosts, which skip the lookup, are checked here.
 */
function guardConnections(agent: http.Agent, policy: OutboundPolicy): void {
  const lookup = createGuardedLookup(policy);
  const original = (agent as unknown as { createConnection: CreateConnection }).createConnection.bind(agent);
  const guarded: CreateConnection = (options, callback) => {
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0) {
      const rejection = checkOutboundAddress(host, host, policy);
      if (rejection !== undefined) {
        callback(rejection);
        return undefined;
      }
    }
    return original({ ...options, lookup }, callback);
  };
  (agent as unknown as { createConnection: CreateConnection }).createConnection = guarded;
}

export interface GuardedAgents {
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

/** Creates keep-alive agents whose every connection passes the outbound policy. */
export function createGuardedAgents(policy: OutboundPolicy, options: { maxSockets?: number } = {}): GuardedAgents {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);
  guardConnections(httpAgent, policy);
  guardConnections(httpsAgent, policy);
  return { httpAgent, httpsAgent };
}

export interface HttpClientOptions extends OutboundPolicy {
  /** Redirects followed before failing. Default 5. */
  maxRedirects?: number;
  /** Largest response body in bytes, after decompression. Default 10 MiB. */
  maxContentLength?: number;
  /** Largest request body in bytes. Default 10 MiB. */
  maxBodyLength?: number;
  /** Socket inactivity timeout in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /**
   * Time limit for the whole request, response body included, in milliseconds. Default 60 000.
   * A request config may set its own `totalTimeoutMs`.
   */
  totalTimeoutMs?: number;
  /** Headers dropped on a redirect to another origin, beyond the standard credential headers. */
  sensitiveHeaders?: string[];
  /** Agents to share between clients; created from the policy when absent. */
  agents?: GuardedAgents;
}

export const OUTBOUND_DEFAULTS = {
  maxRedirects: 5,
  maxContentLength: 10 * 1024 * 1024,
  maxBodyLength: 10 * 1024 * 1024,
  timeoutMs: 30_000,
  totalTimeoutMs: 60_000,
} as const;

const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];

/**
 * Drops credential headers when a redirect leaves the origin (scheme, host and port) of the
 * request before it, so a token sent to one server never reaches another. This is stricter
 * than follow-redirects, which keeps credentials for subdomains.
 */
export function createCredentialStripper(extraHeaders: string[] = []) {
  const sensitive = new Set([...CREDENTIAL_HEADERS, ...extraHeaders.map((name) => name.toLowerCase())]);
  return (
    options: Record<string, unknown>,
    _response: unknown,
    request?: { url?: string },
  ): void => {
    const nextUrl = typeof options.href === 'string' ? options.href : undefined;
    const sameOrigin =
      nextUrl !== undefined && request?.url !== undefined && originOf(nextUrl) === originOf(request.url);
    if (sameOrigin) return;
    const headers = options.headers as Record<string, unknown> | undefined;
    for (const name of Object.keys(headers ?? {})) {
      if (sensitive.has(name.toLowerCase())) delete (headers as Record<string, unknown>)[name];
    }
    delete options.auth;
  };
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

interface Deadline {
  ms: number;
  timedOut: boolean;
  /** Clears the timer and the listener on the caller's signal. */
  settle(): void;
}

const deadlines = new WeakMap<InternalAxiosRequestConfig, Deadline>();

/**
 * Starts the total time limit of one request: a signal that aborts after `ms` or when the
 * caller's signal aborts. Unlike AbortSignal.timeout with AbortSignal.any, whose signals live
 * until the timer fires (60 s by default) and collect on a long-lived caller signal, everything
 * here is released by `settle` as soon as the request ends.
 */
function startDeadline(ms: number, callerSignal: AbortSignal | undefined): { signal: AbortSignal; deadline: Deadline } {
  const controller = new AbortController();
  const onCallerAbort = (): void => controller.abort(callerSignal?.reason);
  const timer = setTimeout(() => {
    deadline.timedOut = true;
    controller.abort(new DOMException(`The request exceeded ${ms} ms`, 'TimeoutError'));
  }, ms);
  timer.unref();
  const deadline: Deadline = {
    ms,
    timedOut: false,
    settle() {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    },
  };
  if (callerSignal?.aborted === true) controller.abort(callerSignal.reason);
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  return { signal: controller.signal, deadline };
}

/**
 * Creates an axios instance with the guarded agents, bounded redirects, response and request
 * size limits, an inactivity timeout and a total time limit on every request. Environment
 * proxies are ignored (`proxy: false`) because a proxy would make the connection check see the
 * proxy's address instead of the target's.
 */
export function createHttpClient(options: HttpClientOptions = {}): AxiosInstance {
  const agents = options.agents ?? createGuardedAgents(options);
  const timeoutMs = options.timeoutMs ?? OUTBOUND_DEFAULTS.timeoutMs;
  const totalTimeoutMs = options.totalTimeoutMs ?? OUTBOUND_DEFAULTS.totalTimeoutMs;

  const client = axios.create({
    httpAgent: agents.httpAgent,
    httpsAgent: agents.httpsAgent,
    proxy: false,
    maxRedirects: options.maxRedirects ?? OUTBOUND_DEFAULTS.maxRedirects,
    maxContentLength: options.maxContentLength ?? OUTBOUND_DEFAULTS.maxContentLength,
    maxBodyLength: options.maxBodyLength ?? OUTBOUND_DEFAULTS.maxBodyLength,
    timeout: timeoutMs,
    beforeRedirect: createCredentialStripper(options.sensitiveHeaders),
  });

  client.interceptors.request.use((config) => {
    // A request-level override may loosen limits but never remove them.
    if (!(typeof config.timeout === 'number' && config.timeout > 0)) config.timeout = timeoutMs;
    if (!(typeof config.maxContentLength === 'number' && config.maxContentLength > 0)) {
      config.maxContentLength = options.maxContentLength ?? OUTBOUND_DEFAULTS.maxContentLength;
    }
    config.httpAgent = agents.httpAgent;
    config.httpsAgent = agents.httpsAgent;
    config.proxy = false;

    const requestTotal = (config as { totalTimeoutMs?: unknown }).totalTimeoutMs;
    const limitMs = typeof requestTotal === 'number' && requestTotal > 0 ? requestTotal : totalTimeoutMs;
    const { signal, deadline } = startDeadline(limitMs, config.signal as AbortSignal | undefined);
    config.signal = signal;
    deadlines.set(config, deadline);
    return config;
  });

  client.interceptors.response.use(
    (response) => {
      deadlines.get(response.config)?.settle();
      return response;
    },
    (error: unknown) => {
      const config = error instanceof AxiosError ? error.config : undefined;
      const deadline = config === undefined ? undefined : deadlines.get(config);
      deadline?.settle();
      if (deadline !== undefined && deadline.timedOut && axios.isCancel(error)) {
        throw new AxiosError(
          `Request exceeded the total time limit of ${deadline.ms} ms`,
          AxiosError.ETIMEDOUT,
          config,
        );
      }
      throw unwrapBlocked(error);
    },
  );
  return client;
}

/** Surfaces the policy error itself when axios wrapped it, so callers see the clear message. */
function unwrapBlocked(error: unknown): unknown {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    if (current instanceof OutboundBlockedError) return current;
    current = (current as Error & { cause?: unknown }).cause;
  }
  return error;
}
