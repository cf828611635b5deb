/**
 * A fake Fleet server for tests, the demo and the benchmark. It serves the routes the Fleet
 * story uses with Fleet's status codes, bodies and check order, and records what it receives.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MAX_COMMAND_BODY_BYTES,
  runCommand,
  type CommandResult,
  type PlistCodec,
  type RecordedCommand,
} from './commands.js';
import {
  AUTH_HEADER_REQUIRED,
  AUTH_REQUIRED,
  FleetError,
  badRequest,
  fleetJson,
  notFound,
  unauthorized,
} from './errors.js';
import { FaultQueue, type FaultSpec } from './faults.js';
import { defaultHosts, makeHost, type FakeHost, type FakeHostInput } from './hosts.js';

export { defaultHosts, makeHost, OS_UPDATE_POLICY } from './hosts.js';
export type { FakeHost, FakeHostInput } from './hosts.js';
export type { FaultSpec } from './faults.js';
export type { CommandResult, PlistValue, RecordedCommand } from './commands.js';

/** Token accepted when the options give none. */
export const DEFAULT_TOKEN = 'fake-fleet-token';

export interface FakeFleetOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Address to listen on; default 127.0.0.1. */
  listenHost?: string;
  /** API tokens accepted as `Authorization: Bearer <token>`; default [DEFAULT_TOKEN]. */
  tokens?: string[];
  /** Hosts in Fleet's datastore; default defaultHosts(). */
  hosts?: FakeHostInput[];
  /** Whether Apple MDM is turned on in Fleet; default true. */
  appleMdmConfigured?: boolean;
  /** Faults queued before the first request. */
  faults?: FaultSpec[];
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body; undefined when the body was empty, not JSON or over the size limit. */
  body: unknown;
  rawBody: string;
  bodyBytes: number;
  time: Date;
}

export interface FakeFleet {
  url: string;
  port: number;
  hosts: FakeHost[];
  requests: RecordedRequest[];
  commands: RecordedCommand[];
  injectFault(spec: FaultSpec): void;
  addHost(input: FakeHostInput): FakeHost;
  /** Stores a device's result for a command, as `GET commands/results` returns it. */
  setCommandResult(
    commandUuid: string,
    hostUuid: string,
    deviceResult: { status: string; result?: string },
  ): void;
  /** Forgets recorded requests, commands, results and queued faults. */
  reset(): void;
  close(): Promise<void>;
}

type Handler = (request: ParsedRequest) => { status: number; body: unknown };

interface ParsedRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  rawBody: Buffer;
  tooLarge: boolean;
  token: string;
}

const API_PATH = /^\/api\/(?:v1|2022-04|latest)\/fleet\/(.*)$/;

function compileRoute(pattern: string): RegExp {
  const source = pattern
    .split('/')
    .map((segment) => (segment.startsWith(':') ? `(?<${segment.slice(1)}>[^/]+)` : segment))
    .join('/');
  return new RegExp(`^${source}$`);
}

/** Reads the bearer token like Fleet: the header split on spaces must give exactly 2 parts. */
function bearerToken(header: string | undefined): string {
  const parts = (header ?? '').split(' ');
  if (parts.length !== 2 || parts[0].toUpperCase() !== 'BEARER') return '';
  return parts[1];
}

function readBody(request: http.IncomingMessage): Promise<{ raw: Buffer; bytes: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // Past the limit the rest is read and dropped, so the client still gets a response.
      if (bytes <= MAX_COMMAND_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => resolve({ raw: Buffer.concat(chunks), bytes }));
    request.on('error', reject);
  });
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Decodes the run-command body like Go's json.Decoder into `runMDMCommandRequest`. */
function decodeRunRequest(raw: Buffer): { command: string; hostUuids: string[] } {
  if (raw.toString('utf8').trim() === '') return { command: '', hostUuids: [] };
  const body = parseJson(raw);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('json decoder error');
  }
  const { command, host_uuids: hostUuids } = body as Record<string, unknown>;
  if (command !== undefined && command !== null && typeof command !== 'string') {
    throw badRequest('json decoder error');
  }
  const uuidsValid =
    hostUuids === undefined ||
    hostUuids === null ||
    (Array.isArray(hostUuids) && hostUuids.every((uuid) => typeof uuid === 'string'));
  if (!uuidsValid) throw badRequest('json decoder error');
  return { command: command ?? '', hostUuids: (hostUuids as string[] | null) ?? [] };
}

/** Starts the fake on 127.0.0.1 and resolves once it listens. */
export async function startFakeFleet(options: FakeFleetOptions = {}): Promise<FakeFleet> {
  const plist = await import('plist');
  const codec: PlistCodec = { parse: plist.parse, parseBinary: plist.parseBinary };
  const tokens = new Set(options.tokens ?? [DEFAULT_TOKEN]);
  const hosts = (options.hosts ?? defaultHosts()).map(makeHost);
  const requests: RecordedRequest[] = [];
  const commands: RecordedCommand[] = [];
  const results = new Map<string, Map<string, CommandResult>>();
  const faults = new FaultQueue();
  for (const spec of options.faults ?? []) faults.add(spec);
  const timers = new Set<{ timer: NodeJS.Timeout; done: () => void }>();

  function findHost(identifier: string): FakeHost | undefined {
    const wanted = identifier.toLowerCase();
    return hosts.find((host) =>
      [host.hostname, host.uuid, host.hardware_serial].some(
        (value) => value !== '' && value.toLowerCase() === wanted,
      ),
    );
  }

  function hostBody(host: FakeHost, query: URLSearchParams): unknown {
    if (query.get('exclude_software') !== 'true') return { host };
    const { software: _software, ...rest } = host;
    return { host: rest };
  }

  const routes: { method: string; pattern: RegExp; handler: Handler }[] = [];
  function route(method: string, patterns: string[], handler: Handler): void {
    for (const pattern of patterns)
      routes.push({ method, pattern: compileRoute(pattern), handler });
  }

  route('GET', ['hosts/identifier/:identifier'], ({ params, query }) => {
    const host = findHost(params.identifier);
    if (host === undefined) throw notFound('Host', params.identifier);
    return { status: 200, body: hostBody(host, query) };
  });

  route('GET', ['hosts/:id'], ({ params, query }) => {
    // Fleet's route only matches digits, so anything else falls through to "not found".
    if (!/^\d+$/.test(params.id)) throw notFound('Host', params.id);
    const id = Number(params.id);
    const host = hosts.find((candidate) => candidate.id === id);
    if (host === undefined) throw notFound('Host', id);
    return { status: 200, body: hostBody(host, query) };
  });

  route('POST', ['commands/run', 'mdm/commands/run'], ({ rawBody, tooLarge, token }) => {
    // NOTE: Fleet's text names "max size limit of 2.097MB" (2 MiB by units.HumanSize); the
    // 413 status and the rest of the wording are this fake's guess.
    if (tooLarge) {
      const reason = 'Request exceeds the max size limit of 2.097MB';
      throw new FleetError(413, 'Request Entity Too Large', 'base', reason);
    }
    const { command, hostUuids } = decodeRunRequest(rawBody);
    const recorded = runCommand(
      { command, hostUuids, token },
      { hosts, appleMdmConfigured: options.appleMdmConfigured ?? true, codec, commands },
    );
    results.set(recorded.commandUuid, new Map());
    return {
      status: 200,
      body: {
        command_uuid: recorded.commandUuid,
        request_type: recorded.requestType,
        platform: recorded.platform,
      },
    };
  });

  route('GET', ['commands/results', 'mdm/commandresults'], ({ query }) => {
    const commandUuid = query.get('command_uuid') ?? '';
    const deviceResults = results.get(commandUuid);
    if (deviceResults === undefined) throw notFound('MDMCommand', commandUuid);
    if (deviceResults.size === 0) return { status: 200, body: {} };
    return { status: 200, body: { results: [...deviceResults.values()] } };
  });

  route('GET', ['commands', 'mdm/commands'], ({ query }) => {
    const identifier = query.get('host_identifier');
    const filterHost = identifier ? findHost(identifier) : undefined;
    const requestType = query.get('request_type');
    const listed = commands
      .filter((command) => !requestType || command.requestType === requestType)
      .flatMap((command) =>
        command.hostUuids
          .filter((uuid) => !identifier || uuid === filterHost?.uuid)
          .map((uuid) => {
            const result = results.get(command.commandUuid)?.get(uuid);
            return {
              host_uuid: uuid,
              command_uuid: command.commandUuid,
              status: result?.status ?? 'Pending',
              updated_at: result?.updated_at ?? command.receivedAt.toISOString(),
              request_type: command.requestType,
              hostname: hosts.find((host) => host.uuid === uuid)?.hostname ?? '',
            };
          }),
      );
    const perPage = Number(query.get('per_page') ?? '0');
    const page = Number(query.get('page') ?? '0');
    const paged = perPage > 0 ? listed.slice(page * perPage, (page + 1) * perPage) : listed;
    return { status: 200, body: { results: paged } };
  });

  function send(
    response: http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (response.destroyed) return;
    const text = typeof body === 'string' ? body : fleetJson(body);
    response.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    response.end(text);
  }

  function sendError(response: http.ServerResponse, error: FleetError): void {
    send(response, error.status, error.body());
  }

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        done: () => {
          timers.delete(entry);
          resolve();
        },
        timer: setTimeout(() => entry.done(), ms),
      };
      timers.add(entry);
    });
  }

  async function applyFault(
    spec: FaultSpec,
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ): Promise<boolean> {
    if (spec.delayMs !== undefined) await delay(spec.delayMs);
    if (spec.reset) {
      request.socket.destroy();
      return true;
    }
    if (spec.status === undefined) return false;
    const headers: Record<string, string> = {};
    if (spec.retryAfter !== undefined) headers['Retry-After'] = String(spec.retryAfter);
    const body =
      spec.body ??
      new FleetError(
        spec.status,
        http.STATUS_CODES[spec.status] ?? 'Error',
        'base',
        `fault injected by the fake Fleet for ${request.method} ${request.url}`,
      ).body();
    send(response, spec.status, body, headers);
    return true;
  }

  async function handle(request: http.IncomingMessage, response: http.ServerResponse) {
    const { raw, bytes } = await readBody(request);
    const url = new URL(request.url ?? '/', 'http://fake-fleet');
    const method = request.method ?? 'GET';
    requests.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...request.headers },
      body: bytes > MAX_COMMAND_BODY_BYTES ? undefined : parseJson(raw),
      rawBody: raw.toString('utf8'),
      bodyBytes: bytes,
      time: new Date(),
    });

    const fault = faults.take(method, url.pathname);
    if (fault !== undefined && (await applyFault(fault, request, response))) return;

    const apiMatch = API_PATH.exec(url.pathname);
    const candidates = apiMatch
      ? routes.map((entry) => ({ entry, match: entry.pattern.exec(apiMatch[1]) }))
      : [];
    const matching = candidates.filter((candidate) => candidate.match !== null);
    if (matching.length === 0) {
      sendError(response, notFound(`Route ${method} ${url.pathname}`));
      return;
    }

    // Fleet's router rejects a wrong method before any handler runs, so before authentication.
    const found = matching.find((candidate) => candidate.entry.method === method);
    if (found === undefined) {
      const allowed = matching.map((candidate) => candidate.entry.method).join(', ');
      const error = new FleetError(405, 'Method Not Allowed', 'base', `use ${allowed}`);
      send(response, 405, error.body(), { Allow: allowed });
      return;
    }

    const token = bearerToken(request.headers.authorization);
    if (token === '') return sendError(response, unauthorized(AUTH_HEADER_REQUIRED));
    if (!tokens.has(token)) return sendError(response, unauthorized(AUTH_REQUIRED));
    const params = Object.fromEntries(
      Object.entries(found.match?.groups ?? {}).map(([name, value]) => [
        name,
        decodeURIComponent(value),
      ]),
    );
    const result = found.entry.handler({
      params,
      query: url.searchParams,
      rawBody: raw,
      tooLarge: bytes > MAX_COMMAND_BODY_BYTES,
      token,
    });
    send(response, result.status, result.body);
  }

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (error instanceof FleetError) return sendError(response, error);
      const reason = error instanceof Error ? error.message : String(error);
      console.error(`fake Fleet failed on ${request.method} ${request.url}: ${reason}`);
      sendError(response, new FleetError(500, 'Internal Server Error', 'base', reason));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.listenHost ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    hosts,
    requests,
    commands,
    injectFault: (spec) => faults.add(spec),
    addHost(input) {
      const host = makeHost(input);
      hosts.push(host);
      return host;
    },
    setCommandResult(commandUuid, hostUuid, deviceResult) {
      const command = commands.find((candidate) => candidate.commandUuid === commandUuid);
      const deviceResults = results.get(commandUuid);
      if (command === undefined || deviceResults === undefined) {
        throw new Error(`no command ${commandUuid} was enqueued on the fake Fleet`);
      }
      deviceResults.set(hostUuid, {
        host_uuid: hostUuid,
        command_uuid: commandUuid,
        status: deviceResult.status,
        updated_at: new Date().toISOString(),
        request_type: command.requestType,
        hostname: hosts.find((host) => host.uuid === hostUuid)?.hostname ?? '',
        payload: Buffer.from(command.rawCommand, 'base64').toString('base64'),
        result: Buffer.from(deviceResult.result ?? '').toString('base64'),
      });
    },
    reset() {
      requests.length = 0;
      commands.length = 0;
      results.clear();
      faults.clear();
    },
    close() {
      for (const entry of [...timers]) {
        clearTimeout(entry.timer);
        entry.done();
      }
      return new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
