/**
 * webhook: the entry point of a story. The server hosts it at /webhook/<story path>/<path>
 * and stores each accepted request as the first work item of a new run; running the action
 * emits that request as the run's first event.
 */
import type { ActionSpec, ActionType, Json, WebhookRoute } from '../../engine/types';

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export const webhook: ActionType = {
  type: 'webhook',
  schema: {
    description: 'Receives HTTP requests and starts a run for each one.',
    properties: {
      path: {
        type: 'string',
        pattern: '^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$',
        description:
          'Path below the story path: `calendar` is served at /webhook/<story path>/calendar.',
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
      response_status: {
        enum: [200, 201, 202, 204],
        default: 201,
        description: 'Status sent once the request is stored.',
      },
    },
    required: ['path'],
  },
  literalFields: ['path', 'methods', 'max_body_bytes', 'response_status'],

  webhookRoute(action: ActionSpec): WebhookRoute {
    const options = action.options;
    return {
      path: String(options['path']),
      methods: (options['methods'] as string[] | undefined) ?? ['POST'],
      maxBodyBytes: (options['max_body_bytes'] as number | undefined) ?? DEFAULT_MAX_BODY_BYTES,
      status: (options['response_status'] as number | undefined) ?? 201,
    };
  },

  async run(input) {
    return { emit: [input.event as Json] };
  },
};
