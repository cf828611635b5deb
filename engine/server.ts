/**
 * The webhook server: hosts every webhook of the loaded stories under
 * /webhook/<story path>/<path>, stores each accepted request as a run and responds with
 * the run id. Every error is a JSON body `{error: {status, code, message}}`.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { EngineMetrics } from './metrics';
import { TooBusyError } from './admission';
import { withoutStack } from './errors';
import type { HostedWebhook, Runner } from './runner';
import { REDACTED } from './redact';
import { BodyError, decodeBody, readRawBody } from './security/body';
import { unauthorizedResponse, verifySecret, verifySignature } from './security/webhook-auth';
import type { Json, WebhookRequest } from './types';

export interface ServerOptions {
  runner: Runner;
  logger: Logger;
  /** Served at /metrics and fed with webhook outcomes; without it /metrics is not served. */
  metrics?: EngineMetrics;
}

/** An HTTP error with the status and a stable code for the JSON body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Creates an HttpError without a stack trace: the webhook handler throws one per rejected request. */
function httpError(status: number, code: string, message: string, headers: Record<string, string> = {}): HttpError {
  return withoutStack(() => new HttpError(status, code, message, headers));
}

function sendError(res: ServerResponse, error: HttpError): void {
  const body = JSON.stringify({ error: { status: error.status, code: error.code, message: error.message } });
  sendJson(res, error.status, body, error.headers);
}

/**
 * Writes a JSON response with node:http alone, as express's res.json would. A 204 response
 * goes without body, Content-Type and Content-Length, which it must not carry (RFC 9110).
 */
function sendJson(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (status === 204) {
    res.writeHead(status);
    res.end();
    return;
  }
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/**
 * Finds the webhook for a request path. A webhook whose secret is the last path segment is
 * hosted one segment deeper: /webhook/<story path>/<path>/<secret>.
 */
function findWebhook(
  routes: Map<string, HostedWebhook>,
  url: string,
): { webhook: HostedWebhook; pathSecret?: string } | undefined {
  const exact = routes.get(url);
  if (exact !== undefined) return { webhook: exact };
  const slash = url.lastIndexOf('/');
  const parent = routes.get(url.slice(0, slash));
  if (parent?.auth?.secret?.location.in !== 'path') return undefined;
  let pathSecret: string;
  try {
    pathSecret = decodeURIComponent(url.slice(slash + 1));
  } catch {
    pathSecret = url.slice(slash + 1);
  }
  return { webhook: parent, pathSecret };
}

/**
 * Headers that carry credentials by convention. Their values are replaced before the request
 * is stored, so history never shows them; a story checks callers with `secret:` or `signature:`.
 */
const CONVENTIONAL_CREDENTIAL_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-access-token',
];

/** Header names whose values are credentials and so are never stored. */
function credentialHeaders(webhook: HostedWebhook): string[] {
  const names: string[] = [...CONVENTIONAL_CREDENTIAL_HEADERS];
  const location = webhook.auth?.secret?.location;
  if (location?.in === 'header') names.push(location.header.toLowerCase());
  if (webhook.auth?.signature) names.push(webhook.auth.signature.header.toLowerCase());
  return names;
}

/** Logs failed authentications at most once per interval per webhook, with their count. */
function authFailureLog(logger: Logger, intervalMs = 10_000) {
  const state = new Map<string, { failed: number; loggedAt: number }>();
  return (webhook: string, reason: string): void => {
    const entry = state.get(webhook) ?? { failed: 0, loggedAt: -Infinity };
    entry.failed++;
    state.set(webhook, entry);
    const now = Date.now();
    if (now - entry.loggedAt < intervalMs) return;
    logger.warn({ webhook, reason, failed: entry.failed }, 'webhook authentication failed');
    entry.loggedAt = now;
    entry.failed = 0;
  };
}

function fromBodyError(error: BodyError): HttpError {
  const headers: Record<string, string> = error.status === 413 ? { Connection: 'close' } : {};
  return httpError(error.status, error.code, error.message, headers);
}

/** Logs 429 rejections at most once per interval, with how many there were since the last line. */
function rejectionLog(logger: Logger, intervalMs = 10_000) {
  let rejected = 0;
  let loggedAt = -Infinity;
  return {
    rejected(webhook: string, error: TooBusyError): void {
      rejected++;
      const now = Date.now();
      if (now - loggedAt < intervalMs) return;
      logger.warn({ webhook, rejected, pending: error.pending, maxPending: error.max }, 'pending work at its limit: rejecting webhooks with 429');
      loggedAt = now;
      rejected = 0;
    },
  };
}

/** Handler of a request under /webhook/; it catches its own errors and responds 500. */
export type WebhookHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * Creates the handler of every request under /webhook/. It uses node:http alone: the server
 * from `listen` calls it before express, which saved about 8 % of the CPU per Fleet flow
 * (express's router and response helpers), and the express app routes to it too.
 */
export function createWebhookHandler(options: ServerOptions): WebhookHandler {
  const { runner, logger, metrics } = options;
  const routes = new Map<string, HostedWebhook>(runner.webhooks.map((webhook) => [webhook.url, webhook]));
  const redactedHeaders = new Map(runner.webhooks.map((webhook) => [webhook, credentialHeaders(webhook)]));
  const busyLog = rejectionLog(logger);
  const logAuthFailure = authFailureLog(logger);
  // Connection: close because the body of a rejected request may be left unread.
  const unauthorized = (webhook: string, reason: string): HttpError => {
    logAuthFailure(webhook, reason);
    const response = unauthorizedResponse();
    return httpError(response.status, response.body.error, response.body.message, { Connection: 'close' });
  };

  const tooBusy = (url: string, error: TooBusyError): HttpError => {
    busyLog.rejected(url, error);
    return httpError(429, 'too_many_pending', error.message, { 'Retry-After': String(error.retryAfterSeconds) });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, requestPath: string, search: string): Promise<void> => {
    const found = findWebhook(routes, requestPath);
    const webhook = found?.webhook;
    // The stored and logged path never contains a path secret.
    const url = webhook?.url ?? requestPath;
    const method = req.method ?? 'GET';
    try {
      if (!webhook) throw httpError(404, 'webhook_not_found', `no webhook is hosted at ${url}`);
      if (!webhook.route.methods.includes(method)) {
        const allowed = webhook.route.methods.join(', ');
        throw httpError(405, 'method_not_allowed', `${method} is not accepted here; use ${allowed}`, {
          Allow: allowed,
        });
      }
      const auth = webhook.auth ?? {};
      const presented = { headers: req.headers, pathSecret: found?.pathSecret, rawBody: Buffer.alloc(0) };
      // The secret is checked before the body is read, so an unauthenticated sender costs little.
      const secretOutcome = auth.secret ? verifySecret(auth.secret, presented) : { ok: true as const };
      if (!secretOutcome.ok) throw unauthorized(url, secretOutcome.reason);
      // Under overload about half the requests get 429; refusing them before the body is
      // read and parsed keeps that cheap. Node discards the unread body of such a request.
      try {
        runner.checkRoom();
      } catch (error) {
        throw error instanceof TooBusyError ? tooBusy(url, error) : error;
      }

      const raw = await readRawBody(req, {
        maxBytes: webhook.route.maxBodyBytes,
        contentLength: req.headers['content-length'],
      }).catch((error: unknown) => {
        throw error instanceof BodyError ? fromBodyError(error) : error;
      });
      if (auth.signature) {
        const outcome = verifySignature(auth.signature, { ...presented, rawBody: raw });
        if (!outcome.ok) throw unauthorized(url, outcome.reason);
      }
      let body: Json;
      try {
        const header = (name: string) => {
          const value = req.headers[name];
          return Array.isArray(value) ? value.join(', ') : value;
        };
        const decoded = await decodeBody(
          raw,
          { contentType: header('content-type'), contentEncoding: header('content-encoding') },
          { maxBytes: webhook.route.maxBodyBytes },
        );
        body = decoded.value;
      } catch (error) {
        throw error instanceof BodyError ? fromBodyError(error) : error;
      }
      const headers = flatHeaders(req);
      for (const name of redactedHeaders.get(webhook) ?? []) {
        if (headers[name] !== undefined) headers[name] = REDACTED;
      }
      const request: WebhookRequest = {
        method,
        path: url,
        // The parser express uses by default, so stories see the same query values.
        query: parseQuery(search) as Record<string, Json>,
        headers,
        body,
        received_at: new Date().toISOString(),
      };
      let runId: string;
      try {
        runId = (await runner.accept(webhook, request)).id;
      } catch (error) {
        if (error instanceof TooBusyError) throw tooBusy(url, error);
        logger.error({ err: error, webhook: url }, 'storing the webhook request failed');
        throw httpError(503, 'store_unavailable', 'the request could not be stored; retry later', {
          'Retry-After': '5',
        });
      }
      metrics?.webhookAccepted(webhook.story.path);
      sendJson(res, webhook.route.status, JSON.stringify({ run_id: runId }));
    } catch (error) {
      if (error instanceof HttpError) {
        if (logger.isLevelEnabled('debug')) {
          logger.debug({ status: error.status, code: error.code, webhook: url }, 'webhook rejected');
        }
        metrics?.webhookRejected(webhook?.story.path ?? '', error.code);
        sendError(res, error);
        return;
      }
      logger.error({ err: error, webhook: url }, 'unexpected error in the webhook server');
      if (!res.headersSent) sendError(res, httpError(500, 'internal_error', 'internal error; see the engine log'));
      else res.destroy();
    }
  };

  return (req, res) => {
    let target = req.url ?? '/';
    // An absolute-form target (`POST http://host/path`, as proxies send) keeps its path and query.
    if (!target.startsWith('/')) {
      try {
        const parsed = new URL(target);
        target = `${parsed.pathname}${parsed.search}`;
      } catch {
        target = '/';
      }
    }
    // Express's URL parsing drops a fragment, which no client should send.
    const fragment = target.indexOf('#');
    if (fragment >= 0) target = target.slice(0, fragment);
    const mark = target.indexOf('?');
    const pathname = mark < 0 ? target : target.slice(0, mark);
    return handle(req, res, pathname.replace(/\/+$/, ''), mark < 0 ? '' : target.slice(mark + 1));
  };
}

const WEBHOOK_PREFIX = '/webhook/';

export function createApp(options: ServerOptions): express.Express {
  const { runner, logger, metrics } = options;
  const handleWebhook = createWebhookHandler(options);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // The server from `listen` passes webhook requests to this handler without express.
  (app.locals as AppLocals).webhookHandler = handleWebhook;

  // 503 when the store does not respond or the work loop stopped, so a load balancer or an
  // orchestrator takes this process out of service.
  let wasHealthy = true;
  app.get('/healthz', async (_req, res) => {
    const health = await runner.health();
    // Log changes only, because probes repeat every few seconds.
    if (health.healthy !== wasHealthy) {
      if (health.healthy) logger.info({ health }, 'health check passes again');
      else logger.warn({ health }, 'health check failed');
      wasHealthy = health.healthy;
    }
    res.status(health.healthy ? 200 : 503).json({
      status: health.healthy ? 'ok' : 'unavailable',
      webhooks: runner.webhooks.length,
      ...health,
    });
  });

  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.contentType).send(await metrics.render());
    });
  }

  app.all('/webhook/{*rest}', (req: Request, res: Response) => handleWebhook(req, res));

  app.use((req: Request, res: Response) => {
    sendError(res, httpError(404, 'not_found', `nothing is served at ${req.path}; webhooks live under /webhook/`));
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err: error }, 'unexpected error in the webhook server');
    sendError(res, httpError(500, 'internal_error', 'internal error; see the engine log'));
  });
  return app;
}

interface AppLocals {
  webhookHandler?: WebhookHandler;
}

export interface StartedServer {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on host:port (port 0 picks a free one). */
export function listen(app: express.Express, host: string, port: number): Promise<StartedServer> {
  return new Promise((resolve, reject) => {
    const webhookHandler = (app.locals as AppLocals).webhookHandler;
    let closing = false;
    const server = createServer((req, res) => {
      if (closing) res.setHeader('Connection', 'close');
      if (webhookHandler !== undefined && req.url?.startsWith(WEBHOOK_PREFIX) === true) void webhookHandler(req, res);
      else app(req, res);
    });
    server.listen(port, host);
    server.keepAliveTimeout = 65_000;
    server.once('error', reject);
    server.once('listening', () => {
      const address = server.address() as AddressInfo;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        server,
        port: address.port,
        url: `http://${shownHost}:${address.port}`,
        close: () =>
          new Promise<void>((done) => {
            closing = true;
            server.close(() => done());
            server.closeIdleConnections();
            // Connections busy now turn idle after their response (sent with Connection:
            // close); a keep-alive client would otherwise hold the server open for minutes.
            const sweep = setInterval(() => server.closeIdleConnections(), 50);
            server.once('close', () => clearInterval(sweep));
          }),
      });
    });
  });
}
