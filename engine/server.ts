/**
 * The webhook server: hosts every webhook of the loaded stories under
 * /webhook/<story path>/<path>, stores each accepted request as a run and answers with the
 * run id. Every error is a JSON body `{error: {status, code, message}}`.
 */
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { EngineMetrics } from './metrics';
import { TooBusyError } from './admission';
import type { HostedWebhook, Runner } from './runner';
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

function isJsonType(type: string): boolean {
  return /^application\/(?:[\w.+-]+\+)?json$/i.test(type);
}

/** Decodes a raw body as JSON; an empty body is null. */
function parseBody(req: Request, raw: Buffer): Json {
  if (raw.length === 0) return null;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  if (!isJsonType(type)) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      `unsupported Content-Type "${type || '(none)'}"; send the body as application/json`,
    );
  }
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new HttpError(400, 'invalid_json', `request body is not valid JSON: ${(error as Error).message}`);
  }
}

function flatHeaders(req: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/** Reads the raw body up to the webhook's limit; rejects larger bodies with 413. */
function readBody(req: Request, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, 'payload_too_large', `request body is ${declared} bytes; this webhook accepts at most ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, 'payload_too_large', `request body exceeds ${limit} bytes, the limit of this webhook`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
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
    const url = req.path.replace(/\/+$/, '');
    const webhook = routes.get(url);
    try {
      if (!webhook) throw new HttpError(404, 'webhook_not_found', `no webhook is hosted at ${url}`);
      if (!webhook.route.methods.includes(req.method)) {
        const allowed = webhook.route.methods.join(', ');
        throw new HttpError(405, 'method_not_allowed', `${req.method} is not accepted here; use ${allowed}`, {
          Allow: allowed,
        });
      }
      const raw = await readBody(req, webhook.route.maxBodyBytes);
      const request: WebhookRequest = {
        method: req.method,
        path: url,
        query: req.query as Record<string, Json>,
        headers: flatHeaders(req),
        body: parseBody(req, raw),
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
