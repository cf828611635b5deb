/** Writes schemas/story.schema.json and schemas/story-test.schema.json (`npm run schema`). */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildStorySchema } from './schema';
import { storyTestSchema } from './story-test/schema';

export const SCHEMA_FILE = path.join(__dirname, '..', '..', 'schemas', 'story.schema.json');
export const TEST_SCHEMA_FILE = path.join(
  __dirname,
  '..',
  '..',
  'schemas',
  'story-test.schema.json',
);

export function renderSchema(): string {
  return `${JSON.stringify(buildStorySchema(), null, 2)}\n`;
}

export function renderTestSchema(): string {
  return `${JSON.stringify(storyTestSchema, null, 2)}\n`;
}

if (require.main === module) {
  writeFileSync(SCHEMA_FILE, renderSchema());
  writeFileSync(TEST_SCHEMA_FILE, renderTestSchema());
  for (const file of [SCHEMA_FILE, TEST_SCHEMA_FILE]) {
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
