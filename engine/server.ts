/**
 * The webhook server: hosts every webhook of the loaded stories under
 * /webhook/<story path>/<path>, stores each accepted request as a run and responds with
 * the run id. Every error is a JSON body `{error: {status, code, message}}`.
 */
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { EngineMetrics } from './metrics';
import { TooBusyError } from './admission';
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

function sendError(res: Response, error: HttpError): void {
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res.status(error.status).json({ error: { status: error.status, code: error.code, message: error.message } });
}

function flatHeaders(req: Request): Record<string, string> {
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
  return new HttpError(error.status, error.code, error.message, headers);
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

export function createApp(options: ServerOptions): express.Express {
  const { runner, logger, metrics } = options;
  const routes = new Map<string, HostedWebhook>(runner.webhooks.map((webhook) => [webhook.url, webhook]));
  const busyLog = rejectionLog(logger);
  const logAuthFailure = authFailureLog(logger);
  // Connection: close because the body of a rejected request may be left unread.
  const unauthorized = (webhook: string, reason: string): HttpError => {
    logAuthFailure(webhook, reason);
    const response = unauthorizedResponse();
    return new HttpError(response.status, response.body.error, response.body.message, { Connection: 'close' });
  };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // 503 when the store does not answer or the work loop stopped, so a load balancer or an
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
      webhooks: routes.size,
      ...health,
    });
  });

  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.contentType).send(await metrics.render());
    });
  }

  app.all('/webhook/{*rest}', async (req: Request, res: Response) => {
    const requestPath = req.path.replace(/\/+$/, '');
    const found = findWebhook(routes, requestPath);
    const webhook = found?.webhook;
    // The stored and logged path never contains a path secret.
    const url = webhook?.url ?? requestPath;
    try {
      if (!webhook) throw new HttpError(404, 'webhook_not_found', `no webhook is hosted at ${url}`);
      if (!webhook.route.methods.includes(req.method)) {
        const allowed = webhook.route.methods.join(', ');
        throw new HttpError(405, 'method_not_allowed', `${req.method} is not accepted here; use ${allowed}`, {
          Allow: allowed,
        });
      }
      const auth = webhook.auth ?? {};
      const presented = { headers: req.headers, pathSecret: found?.pathSecret, rawBody: Buffer.alloc(0) };
      // The secret is checked before the body is read, so an unauthenticated sender costs little.
      const secretOutcome = auth.secret ? verifySecret(auth.secret, presented) : { ok: true as const };
      if (!secretOutcome.ok) throw unauthorized(url, secretOutcome.reason);

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
      for (const name of credentialHeaders(webhook)) {
        if (headers[name] !== undefined) headers[name] = REDACTED;
      }
      const request: WebhookRequest = {
        method: req.method,
        path: url,
        query: req.query as Record<string, Json>,
        headers,
        body,
        received_at: new Date().toISOString(),
      };
      let runId: string;
      try {
        runId = (await runner.accept(webhook, request)).id;
      } catch (error) {
        if (error instanceof TooBusyError) {
          busyLog.rejected(url, error);
          throw new HttpError(429, 'too_many_pending', error.message, {
            'Retry-After': String(error.retryAfterSeconds),
          });
        }
        logger.error({ err: error, webhook: url }, 'storing the webhook request failed');
        throw new HttpError(503, 'store_unavailable', 'the request could not be stored; retry later', {
          'Retry-After': '5',
        });
      }
      metrics?.webhookAccepted(webhook.story.path);
      res.status(webhook.route.status).json({ run_id: runId });
    } catch (error) {
      if (error instanceof HttpError) {
        logger.debug({ status: error.status, code: error.code, webhook: url }, 'webhook rejected');
        metrics?.webhookRejected(webhook?.story.path ?? '', error.code);
        sendError(res, error);
        return;
      }
      throw error;
    }
  });

  app.use((req: Request, res: Response) => {
    sendError(res, new HttpError(404, 'not_found', `nothing is served at ${req.path}; webhooks live under /webhook/`));
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    logger.error({ err: error }, 'unexpected error in the webhook server');
    sendError(res, new HttpError(500, 'internal_error', 'internal error; see the engine log'));
  });
  return app;
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
    const server = app.listen(port, host);
    server.keepAliveTimeout = 65_000;
    let closing = false;
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (closing) res.setHeader('Connection', 'close');
    });
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
