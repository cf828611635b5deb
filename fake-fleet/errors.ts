/**
 * Fleet's error responses: `{message, code?, errors: [{name, reason}], uuid}` written by Go's
 * `json.Encoder` with a two-space indent and a trailing newline (Fleet's
 * `server/platform/endpointer/transport_error.go`).
 */
import { randomUUID } from 'node:crypto';

export interface FleetErrorBody {
  message: string;
  code?: number;
  errors: { name: string; reason: string }[];
  uuid: string;
}

/** An error response of the fake: its HTTP status and the fields of Fleet's body. */
export class FleetError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'FleetError';
  }

  body(): FleetErrorBody {
    return {
      message: this.message,
      errors: [{ name: this.field, reason: this.reason }],
      uuid: randomUUID(),
    };
  }
}

/** Fleet's InvalidArgumentError: "Validation Failed", 422 unless another status is given. */
export function validationFailed(field: string, reason: string, status = 422): FleetError {
  return new FleetError(status, 'Validation Failed', field, reason);
}

/** Fleet's datastore notFound error, which drops a zero id from the text. */
export function notFound(resource: string, id?: number | string): FleetError {
  const subject = id === undefined || id === 0 || id === '' ? resource : `${resource} ${id}`;
  return new FleetError(
    404,
    'Resource Not Found',
    'base',
    `${subject} was not found in the datastore`,
  );
}

export function badRequest(reason: string): FleetError {
  return new FleetError(400, 'Bad request', 'base', reason);
}

export const AUTH_HEADER_REQUIRED = 'Authorization header required';
export const AUTH_REQUIRED = 'Authentication required';

export function unauthorized(reason: string): FleetError {
  return new FleetError(401, reason, 'base', reason);
}

const GO_HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * Serialises like Go's `json.Encoder` with `SetIndent("", "  ")`, which also escapes `<`, `>`,
 * `&`, U+2028 and U+2029 inside strings.
 */
export function fleetJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2).replace(
    /[<>&\u2028\u2029]/g,
    (c) => GO_HTML_ESCAPES[c],
  );
  return `${text}\n`;
}
