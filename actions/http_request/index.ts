/**
 * http_request: sends one HTTP request per incoming event and emits the response as
 * `{status, headers, body}`, with the body parsed when it is JSON. A non-2xx status fails the
 * event unless `fail_on_status` is false.
 */
import { TransportError } from '../../engine/http';
import { retryPolicy, retrySchema } from '../../engine/retry';
import { ActionError, type ActionType, type HttpResponse, type Json } from '../../engine/types';
import { encodeBody, failureReason, parseRetryAfter, RETRYABLE_STATUSES } from './encoding';

const DEFAULT_TIMEOUT_SECONDS = 30;
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'EPIPE']);

export const httpRequest: ActionType = {
  type: 'http_request',
  schema: {
    description: 'Sends an HTTP request and emits the response.',
    properties: {
      method: {
        enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
        default: 'GET',
        description: 'HTTP method.',
      },
      url: {
        type: 'string',
        minLength: 1,
        description: 'Absolute http or https URL; usually a template.',
      },
      headers: {
        type: 'object',
        additionalProperties: { type: ['string', 'number', 'boolean'] },
        description: 'Request headers; values are templates or literals.',
      },
      query: {
        type: ['object', 'string'],
        description: 'Query string parameters, added to the URL.',
      },
      body: {
        description: 'Request body: any value, encoded as `content_type` says.',
      },
      content_type: {
        enum: ['json', 'form', 'text'],
        default: 'json',
        description:
          '`json` sends the body as JSON, `form` as application/x-www-form-urlencoded (a list or ' +
          'object value becomes its JSON text), `text` as is.',
      },
      timeout: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 600,
        default: DEFAULT_TIMEOUT_SECONDS,
        description: 'Seconds to wait for the whole response.',
      },
      retry: retrySchema,
      fail_on_status: {
        type: 'boolean',
        default: true,
        description:
          "When true, a status outside 200-299 fails the event with the status and the server's " +
          "reason (Fleet's `errors[0].reason`, or `message`); when false the response is emitted.",
      },
      accept_statuses: {
        type: 'array',
        items: { type: 'integer', minimum: 100, maximum: 599 },
        uniqueItems: true,
        description:
          'Statuses outside 200-299 that count as success, such as 409 from an API that rejects a ' +
          'request it has already applied, so a retried POST does not fail the run.',
      },
    },
    required: ['url'],
  },
  literalFields: ['method', 'content_type', 'timeout', 'fail_on_status', 'accept_statuses', 'retry'],
  sideEffects: true,

  retry(action) {
    return {
      policy: retryPolicy(action.options['retry']),
      method: String(action.options['method'] ?? 'GET'),
    };
  },

  async run(input) {
    const options = input.action.options;
    const method = String(options['method'] ?? 'GET');
    const url = await input.field<unknown>('url');
    if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) {
      throw new ActionError(`url must be an absolute http(s) URL, got ${JSON.stringify(url)}`);
    }
    const headers: Record<string, string> = {};
    const written = (await input.field<Record<string, unknown> | undefined>('headers')) ?? {};
    for (const [name, value] of Object.entries(written)) {
      if (value !== undefined && value !== null) headers[name] = String(value);
    }
    const contentType = String(options['content_type'] ?? 'json');
    const body = encodeBody(await input.field<unknown>('body'), contentType, headers);
    const query = await input.field<Record<string, string> | string | undefined>('query');
    const timeoutSeconds = Number(options['timeout'] ?? DEFAULT_TIMEOUT_SECONDS);

    let response: HttpResponse;
    try {
      response = await input.http({
        method,
        url: typeof query === 'string' ? `${url}${url.includes('?') ? '&' : '?'}${query}` : url,
        headers,
        query: typeof query === 'object' ? query : undefined,
        body,
        timeoutMs: timeoutSeconds * 1000,
        signal: input.signal,
        allowPrivateNetworks: input.story.allowPrivateNetworks === true,
      });
    } catch (error) {
      if (!(error instanceof TransportError)) throw error;
      throw new ActionError(`${method} ${url} failed: ${error.message} (${error.code})`, {
        retryable: RETRYABLE_CODES.has(error.code),
        cause: error,
      });
    }

    const emitted = { status: response.status, headers: response.headers, body: parseBody(response) };
    const summary = `${response.status} ${method} ${url}`;
    const accepted = (options['accept_statuses'] as number[] | undefined) ?? [];
    const ok = (response.status >= 200 && response.status < 300) || accepted.includes(response.status);
    if (!ok && options['fail_on_status'] !== false) {
      throw new ActionError(
        `${method} ${url} returned ${response.status}: ${failureReason(emitted.body)}`,
        {
          retryable: RETRYABLE_STATUSES.has(response.status),
          retryAfterMs: parseRetryAfter(response.headers['retry-after']),
          data: { status: response.status, body: emitted.body },
        },
      );
    }
    return { emit: [emitted], summary };
  },
};

function parseBody(response: HttpResponse): Json {
  const text = response.body.toString('utf8');
  const type = response.headers['content-type'] ?? '';
  if (/[/+]json\b/i.test(type)) {
    try {
      return JSON.parse(text) as Json;
    } catch {
      return text;
    }
  }
  return text;
}
