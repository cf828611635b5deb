/**
 * JSON Schema of story test files (`*.test.yaml`). schemas/story-test.schema.json is written
 * from it by `npm run schema`, for editors; `engine test` validates with the same object.
 */
import { withMarkdownDescriptions } from '../schema-markdown';

const IDENTIFIER = '^[A-Za-z_][A-Za-z0-9_]*$';

const MATCH_DESCRIPTION =
  'Expected value. Objects match when every listed field matches (other fields are ignored); ' +
  'lists match item by item; a string starting with `=` is a JSONata test run on the actual ' +
  'value as `$` (write `\\=` for a literal leading `=`); anything else must be equal.';

const responseSchema = {
  type: 'object',
  description: 'Canned HTTP response returned to the action instead of calling the network.',
  properties: {
    status: {
      type: 'integer',
      minimum: 100,
      maximum: 599,
      default: 200,
      description: 'HTTP status code.',
    },
    headers: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description:
        'Response headers. Content-Type defaults to application/json for an object or list body.',
    },
    body: {
      description: 'Response body: an object or list is sent as JSON, a string as it is.',
    },
  },
  additionalProperties: false,
};

const requestSchema = {
  type: 'object',
  description: 'Expected outgoing request; only the listed parts are compared.',
  properties: {
    method: { type: 'string', description: 'HTTP method, such as POST.' },
    url: {
      description: 'Full URL including the query string, or a `=` JSONata test.',
      type: 'string',
    },
    headers: {
      type: 'object',
      description: 'Headers that must be present, by name (case-insensitive), with their values.',
    },
    body: { description: `Body, parsed when JSON or a form. ${MATCH_DESCRIPTION}` },
  },
  additionalProperties: false,
};

const oneOrMany = (schema: Record<string, unknown>, what: string, minItems: number) => ({
  description: `${schema.description as string} A list gives one ${what} per request, in order.`,
  anyOf: [schema, { type: 'array', items: schema, minItems }],
});

const actionList = (description: string) => ({
  type: 'array',
  items: { type: 'string', pattern: IDENTIFIER },
  uniqueItems: true,
  description,
});

const caseSchema = {
  type: 'object',
  description: 'One test case: a webhook event in, canned responses, expectations.',
  properties: {
    name: { type: 'string', minLength: 1, description: 'What the case checks, shown in output.' },
    webhook: {
      type: 'string',
      pattern: IDENTIFIER,
      description: 'Webhook action that receives the event; needed when the story has several.',
    },
    event: { description: 'JSON body of the incoming webhook request.' },
    headers: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'Headers of the incoming webhook request.',
    },
    responses: {
      type: 'object',
      description:
        'Canned responses by action name. A request from an action without one fails the case.',
      propertyNames: { pattern: IDENTIFIER },
      additionalProperties: oneOrMany(responseSchema, 'response', 1),
    },
    expect: {
      type: 'object',
      description: 'What the run must do. Every listed check must hold.',
      properties: {
        status: {
          enum: ['succeeded', 'failed'],
          description: 'Final run status.',
        },
        ran: actionList('Actions that must have emitted at least one event.'),
        not_ran: actionList('Actions that must not have emitted any event.'),
        failed: actionList('Actions that must have failed.'),
        requests: {
          type: 'object',
          description: 'Expected requests by action name; an empty list means none.',
          propertyNames: { pattern: IDENTIFIER },
          additionalProperties: oneOrMany(requestSchema, 'expected request', 0),
        },
        events: {
          type: 'object',
          description: `Expected event payloads by action name (the first event). ${MATCH_DESCRIPTION}`,
          propertyNames: { pattern: IDENTIFIER },
        },
      },
      additionalProperties: false,
    },
  },
  required: ['name', 'event', 'expect'],
  additionalProperties: false,
};

export const storyTestSchema = withMarkdownDescriptions({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'story-engine story test',
  description:
    'Offline tests of one story: each case sends a webhook event, answers the HTTP requests ' +
    'with canned responses and checks what ran, what was sent and how the run ended.',
  type: 'object',
  properties: {
    story: {
      type: 'string',
      description: 'Story file, relative to this file. Default: this file name without `.test`.',
    },
    env: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'Environment for credentials and resources during the tests.',
    },
    cases: { type: 'array', minItems: 1, items: caseSchema, description: 'The test cases.' },
  },
  required: ['cases'],
  additionalProperties: false,
});
