/**
 * webhook: the entry point of a story. The server hosts it at /webhook/<story path>/<path>
 * and stores each accepted request as the first work item of a new run; running the action
 * emits that request as the run's first event.
 */
import { DEFAULT_TOLERANCE_SECONDS } from '../../engine/security/webhook-auth';
import type { ActionSpec, ActionType, Json, WebhookAuthSpec, WebhookRoute } from '../../engine/types';

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export const webhook: ActionType = {
  type: 'webhook',
  schema: {
    description: 'Receives HTTP requests and starts a run for each one.',
    properties: {
      path: {
        type: 'string',
        // Segments `.` and `..` are rejected because clients normalise them away.
        pattern: '^(?!(?:.*/)?\\.\\.?(?:/|$))[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*$',
        description:
          'Path below the story path: `calendar` is served at `/webhook/<story path>/calendar`.',
      },
      methods: {
        type: 'array',
        items: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
        minItems: 1,
        uniqueItems: true,
        default: ['POST'],
        description: 'HTTP methods accepted; other methods get 405.',
      },
      max_body_bytes: {
        type: 'integer',
        minimum: 1,
        maximum: 100 * 1024 * 1024,
        default: DEFAULT_MAX_BODY_BYTES,
        description: 'Largest accepted request body in bytes; larger bodies get 413.',
      },
      secret: {
        type: 'object',
        description:
          'Shared secret the sender must present, compared in constant time. Without `header`, ' +
          'the secret is the last path segment: /webhook/<story path>/<path>/<secret>.',
        properties: {
          credential: {
            type: 'string',
            description: 'Name of the story credential that contains the secret.',
          },
          header: { type: 'string', minLength: 1, description: 'Request header carrying the secret.' },
        },
        required: ['credential'],
        additionalProperties: false,
      },
      signature: {
        type: 'object',
        description:
          'HMAC signature of the raw request body, such as `X-Hub-Signature-256: sha256=<hex>`.',
        properties: {
          credential: {
            type: 'string',
            description: 'Name of the story credential that contains the signing key.',
          },
          header: { type: 'string', minLength: 1, description: 'Request header carrying the signature.' },
          algorithm: {
            enum: ['sha1', 'sha256', 'sha384', 'sha512'],
            default: 'sha256',
            description: 'HMAC digest algorithm.',
          },
          prefix: {
            type: 'string',
            description: 'Text before the digest in the header. Default: `<algorithm>=`.',
          },
          encoding: { enum: ['hex', 'base64'], default: 'hex', description: 'Digest encoding.' },
          timestamp_header: {
            type: 'string',
            minLength: 1,
            description:
              'Header with the Unix time of the request; the signed text is then `<timestamp>.<body>`.',
          },
          tolerance_seconds: {
            type: 'integer',
            minimum: 1,
            default: DEFAULT_TOLERANCE_SECONDS,
            description: 'Largest accepted clock difference for `timestamp_header`, in seconds.',
          },
        },
        required: ['credential', 'header'],
        additionalProperties: false,
      },
      response_status: {
        enum: [200, 201, 202, 204],
        default: 201,
        description: 'Status sent once the request is stored; the body is `{"run_id": "..."}`.',
      },
    },
    required: ['path'],
  },
  literalFields: ['path', 'methods', 'max_body_bytes', 'secret', 'signature', 'response_status'],

  webhookRoute(action: ActionSpec): WebhookRoute {
    const options = action.options;
    return {
      path: String(options['path']),
      methods: (options['methods'] as string[] | undefined) ?? ['POST'],
      maxBodyBytes: (options['max_body_bytes'] as number | undefined) ?? DEFAULT_MAX_BODY_BYTES,
      status: (options['response_status'] as number | undefined) ?? 201,
      auth: authSpec(options),
    };
  },

  async run(input) {
    return { emit: [input.event as Json] };
  },
};

interface WrittenSignature {
  credential: string;
  header: string;
  algorithm?: string;
  prefix?: string;
  encoding?: 'hex' | 'base64';
  timestamp_header?: string;
  tolerance_seconds?: number;
}

/** Converts the validated `secret` and `signature` fields to the route's authentication. */
function authSpec(options: Record<string, unknown>): WebhookAuthSpec | undefined {
  const secret = options['secret'] as WebhookAuthSpec['secret'] | undefined;
  const signature = options['signature'] as WrittenSignature | undefined;
  if (secret === undefined && signature === undefined) return undefined;
  const spec: WebhookAuthSpec = {};
  if (secret !== undefined) spec.secret = secret;
  if (signature !== undefined) {
    spec.signature = {
      credential: signature.credential,
      header: signature.header,
      algorithm: signature.algorithm,
      prefix: signature.prefix,
      encoding: signature.encoding,
      timestampHeader: signature.timestamp_header,
      toleranceSeconds: signature.tolerance_seconds,
    };
  }
  return spec;
}
