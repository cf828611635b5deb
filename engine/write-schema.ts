/** Writes schemas/story.schema.json from the action types (`npm run schema`). */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildStorySchema } from './schema';

export const SCHEMA_FILE = path.join(__dirname, '..', '..', 'schemas', 'story.schema.json');

export function renderSchema(): string {
  return `${JSON.stringify(buildStorySchema(), null, 2)}\n`;
}

if (require.main === module) {
  writeFileSync(SCHEMA_FILE, renderSchema());
  console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
}
