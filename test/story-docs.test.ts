import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { buildStorySchema } from '../engine/schema';
import { storyTestSchema } from '../engine/story-test/schema';
import { renderRegion, renderStoryFormat, STORY_FORMAT_FILE } from '../engine/write-docs';

/** Lists every property, at any depth, that has no description; `if` conditions are not fields. */
function undescribed(schema: unknown, path = ''): string[] {
  if (schema === null || typeof schema !== 'object') return [];
  if (Array.isArray(schema))
    return schema.flatMap((item, index) => undescribed(item, `${path}[${index}]`));
  const node = schema as Record<string, unknown>;
  const missing: string[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && value !== null && typeof value === 'object') {
      for (const [name, field] of Object.entries(value)) {
        const described = (field as { description?: unknown }).description !== undefined;
        if (!described) missing.push(`${path}.${name}`);
        missing.push(...undescribed(field, `${path}.${name}`));
      }
    } else if (!['default', 'const', 'enum', 'examples', 'if'].includes(key)) {
      missing.push(...undescribed(value, `${path}/${key}`));
    }
  }
  return missing;
}

describe('story format docs', () => {
  it('match the schema', () => {
    const current = readFileSync(STORY_FORMAT_FILE, 'utf8');
    expect(current, 'run `npm run docs`').to.equal(renderStoryFormat(current));
  });

  it('contain a table for every action type', () => {
    const current = readFileSync(STORY_FORMAT_FILE, 'utf8');
    for (const type of ['common', 'webhook', 'trigger', 'http_request', 'transform']) {
      expect(current, type).to.contain(`<!-- schema: action ${type} -->`);
    }
  });

  it('list defaults, requirement and allowed values', () => {
    const table = renderRegion('action webhook', buildStorySchema());
    expect(table).to.contain('| `path` | required |');
    expect(table).to.contain('| `methods` | `[POST]` |');
    expect(table).to.contain('One of `200`, `201`, `202`, `204`.');
  });

  it('reject an unknown region', () => {
    expect(() => renderRegion('action mail', buildStorySchema())).to.throw(
      'schema region "action mail" names no action type',
    );
  });
});

describe('editor schemas', () => {
  it('describe every story field', () => {
    expect(undescribed(buildStorySchema())).to.deep.equal([]);
  });

  it('describe every story test field', () => {
    expect(undescribed(storyTestSchema)).to.deep.equal([]);
  });

  it('carry Markdown descriptions for hovers', () => {
    const schema = buildStorySchema() as { properties: Record<string, Record<string, unknown>> };
    expect(schema.properties.resources.markdownDescription).to.equal(
      schema.properties.resources.description,
    );
  });
});
