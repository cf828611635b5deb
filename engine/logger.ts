/** pino logger set-up: JSON lines, header secrets redacted by path. */
import pino, { type DestinationStream, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const REDACT_PATHS = [
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-api-key"]',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** Destination for logs when standard output carries the command's own result. */
createLogger.stderr = (): DestinationStream => pino.destination({ fd: 2, sync: true });
