/**
 * Builds the JSON Schema of the story format from the action types' fragments. The result is
 * written to schemas/story.schema.json (`npm run schema`) for editors and docs; validation
 * uses the same object in memory.
 */
import { ACTION_TYPES } from '../actions';
import { withMarkdownDescriptions } from './schema-markdown';

export const IDENTIFIER_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
export const STORY_PATH_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]*$';

/** Fields every action has, whatever its type. */
export const COMMON_ACTION_FIELDS = ['name', 'type', 'after', 'description'] as const;

const commonActionProperties = {
  name: {
    type: 'string',
    pattern: IDENTIFIER_PATTERN,
    description:
      'Identifier of the action (letters, digits and _); later actions read its event by this name.',
  },
  after: {
    type: ['string', 'array'],
    items: { type: 'string' },
    minItems: 1,
    description: 'Action or actions whose events this action receives. Webhooks have none.',
  },
  description: { type: 'string', description: 'Free text shown in graphs and trails.' },
  emit_failure: {
    type: 'boolean',
    default: false,
    description:
      'When true, a failure of this action is emitted as an event `{error: {message, ...}}` ' +
      'for the next actions to route, instead of failing the run.',
  },
};

const resourceSchema = {
  description:
    'A plain setting: a literal value, or `{env: NAME, default: value}` to read it from the environment.',
  anyOf: [
    { type: ['string', 'number', 'boolean', 'array', 'null'] },
    {
      type: 'object',
      properties: {
        env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'Variable name.' },
        default: { description: 'Value used when the variable is not set.' },
      },
      required: ['env'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { value: { description: 'The value, when it is an object.' } },
      required: ['value'],
      additionalProperties: false,
    },
  ],
};

export function buildStorySchema(): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  const branches: unknown[] = [];
  for (const action of ACTION_TYPES) {
    const key = `action_${action.type}`;
    defs[key] = {
      type: 'object',
      description: action.schema.description,
      properties: {
        ...commonActionProperties,
        type: { const: action.type, description: action.schema.description },
        ...action.schema.properties,
      },
      required: ['name', 'type', ...(action.schema.required ?? [])],
      additionalProperties: false,
      ...(action.schema.allOf ? { allOf: action.schema.allOf } : {}),
    };
    branches.push({
      if: { properties: { type: { const: action.type } }, required: ['type'] },
      then: { $ref: `#/$defs/${key}` },
    });
  }

  return withMarkdownDescriptions({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'story-engine story',
    description: 'An automation story: webhooks, triggers, HTTP requests and transforms.',
    type: 'object',
    properties: {
      name: {
        type: 'string',
        minLength: 1,
        description: 'Human-readable name of the story. Default: the story path.',
      },
      description: { type: 'string', description: 'What the story does.' },
      path: {
        type: 'string',
        pattern: STORY_PATH_PATTERN,
        description:
          'URL segment of the story: its webhooks live under `/webhook/<path>/`. Letters, digits, ' +
          '`_` and `-`. Default: the file name without `.yaml`.',
      },
      credentials: {
        type: 'object',
        description:
          'Secrets by name, each `{env: VARIABLE}`. Read at start-up, and the engine does not start ' +
          'when one is unset. Never stored or logged.',
        propertyNames: { pattern: IDENTIFIER_PATTERN },
        additionalProperties: {
          type: 'object',
          properties: {
            env: {
              type: 'string',
              pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
              description: 'Environment variable holding the secret.',
            },
          },
          required: ['env'],
          additionalProperties: false,
        },
      },
      allow_private_networks: {
        type: 'boolean',
        default: false,
        description:
          'Lets HTTP actions reach private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) and ' +
          'loopback addresses, such as a Fleet server on the internal network. Metadata and ' +
          'link-local addresses stay blocked.',
      },
      resources: {
        type: 'object',
        description:
          'Plain settings by name, read as `resources.<name>`: a literal value, ' +
          '`{env: VARIABLE, default: value}`, or `{value: ...}` for an object.',
        propertyNames: { pattern: IDENTIFIER_PATTERN },
        additionalProperties: resourceSchema,
      },
      actions: {
        type: 'array',
        minItems: 1,
        description: 'The actions of the story, in any order; `after:` links them.',
        items: {
          type: 'object',
          properties: {
            name: commonActionProperties.name,
            type: {
              enum: ACTION_TYPES.map((action) => action.type),
              description: 'Action type.',
              markdownEnumDescriptions: ACTION_TYPES.map((action) => action.schema.description),
            },
          },
          required: ['name', 'type'],
          allOf: branches,
        },
      },
    },
    required: ['actions'],
    additionalProperties: false,
    $defs: defs,
  });
}
