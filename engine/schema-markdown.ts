/**
 * Adds editor hints to a JSON Schema. yaml-language-server and VS Code show
 * `markdownDescription` in hovers with its Markdown rendered, while `description` stays plain
 * text for other tools.
 */

/** Keywords whose value maps names to schemas. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions']);

/** Keywords whose value is data (a default, an example), never a schema. */
const DATA_KEYWORDS = new Set(['default', 'const', 'enum', 'examples']);

/** Returns a copy of the schema with `markdownDescription` beside every `description`. */
export function withMarkdownDescriptions<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map((item) => withMarkdownDescriptions(item)) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DATA_KEYWORDS.has(key)) copy[key] = value;
    else if (SCHEMA_MAPS.has(key) && value !== null && typeof value === 'object') {
      const entries = Object.entries(value).map(([name, item]) => [
        name,
        withMarkdownDescriptions(item),
      ]);
      copy[key] = Object.fromEntries(entries);
    } else copy[key] = withMarkdownDescriptions(value);
  }
  if (typeof copy.description === 'string' && copy.markdownDescription === undefined) {
    copy.markdownDescription = copy.description;
  }
  return copy as T;
}
