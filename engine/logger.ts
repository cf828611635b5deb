/** pino logger set-up: JSON lines with credentials redacted in fields, messages and errors. */
import pino, { type DestinationStream, type Logger } from 'pino';
import { knownSecrets } from './redact';
import { createPinoOptions } from './security/redact';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: { pid: process.pid }, ...createPinoOptions(knownSecrets, ['x-api-key']) },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** Destination for logs when standard output carries the command's own result. */
createLogger.stderr = (): DestinationStream => pino.destination({ fd: 2, sync: true });
