/**
 * Writes the field tables of docs/story-format.md from the story schema (`npm run docs`).
 * Each table sits between `<!-- schema: NAME -->` and `<!-- schema: end -->`; the prose
 * around them is written by hand and kept.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildStorySchema } from './schema';

export const STORY_FORMAT_FILE = path.join(__dirname, '..', '..', 'docs', 'story-format.md');

interface FieldSchema {
  description?: string;
  default?: unknown;
  enum?: unknown[];
}

interface ObjectSchema {
  properties: Record<string, FieldSchema>;
  required?: string[];
}

const REGION = /(<!-- schema: ([a-z_ ]+) -->\n)[\s\S]*?(<!-- schema: end -->)/g;

function cell(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
}

function code(value: unknown): string {
  if (Array.isArray(value)) return `\`[${value.map((item) => String(item)).join(', ')}]\``;
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

/** Returns the description, plus the allowed values unless it already names them. */
function meaning(field: FieldSchema): string {
  const text = field.description ?? '';
  if (
    field.enum === undefined ||
    field.enum.some((value) => text.includes(`\`${String(value)}\``))
  ) {
    return cell(text);
  }
  return cell(`${text} One of ${field.enum.map(code).join(', ')}.`);
}

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

/** Returns the fields every action type has, in the order the schema lists them. */
function commonFields(actions: ObjectSchema[]): string[] {
  const [first, ...rest] = actions;
  return Object.keys(first?.properties ?? {}).filter(
    (name) => name !== 'type' && rest.every((action) => name in action.properties),
  );
}

/** Renders the table of one region: `top`, `action common` or `action <type>`. */
export function renderRegion(name: string, schema: Record<string, unknown>): string {
  const defs = schema.$defs as Record<string, ObjectSchema>;
  const actions = Object.values(defs);
  const common = commonFields(actions);

  if (name === 'top') {
    const top = schema as unknown as ObjectSchema;
    const rows = Object.entries(top.properties).map(([field, spec]) => [
      `\`${field}\``,
      top.required?.includes(field) ? 'yes' : 'no',
      meaning(spec),
    ]);
    return table(['field', 'required', 'meaning'], rows);
  }

  const [kind, type] = name.split(' ');
  if (kind !== 'action' || type === undefined) throw new Error(`unknown schema region "${name}"`);
  const action = type === 'common' ? actions[0] : defs[`action_${type}`];
  if (action === undefined) throw new Error(`schema region "${name}" names no action type`);
  const fields = Object.entries(action.properties).filter(([field]) =>
    type === 'common' ? common.includes(field) : field !== 'type' && !common.includes(field),
  );
  const rows = fields.map(([field, spec]) => {
    const fallback = action.required?.includes(field) ? 'required' : 'none';
    return [
      `\`${field}\``,
      spec.default === undefined ? fallback : code(spec.default),
      meaning(spec),
    ];
  });
  return table(['field', 'default', 'meaning'], rows);
}

/** Returns the document with every region's table rendered again from the schema. */
export function renderStoryFormat(document: string, schema = buildStorySchema()): string {
  return document.replace(REGION, (_whole, open: string, name: string, close: string) => {
    return `${open}${renderRegion(name.trim(), schema)}${close}`;
  });
}

if (require.main === module) {
  const current = readFileSync(STORY_FORMAT_FILE, 'utf8');
  writeFileSync(STORY_FORMAT_FILE, renderStoryFormat(current));
  console.log(`wrote ${path.relative(process.cwd(), STORY_FORMAT_FILE)}`);
}
