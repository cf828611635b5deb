/** Validates a parsed story against the JSON Schema and turns ajv errors into load problems. */
import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { ACTION_TYPES } from '../actions';
import { buildStorySchema } from './schema';
import { didYouMean } from './suggest';
import { isScalar } from 'yaml';
import { explainYamlScalar } from './security/yaml-hints';
import type { LoadProblem } from './types';
import { fieldName, type ValuePath, type YamlSource } from './yaml-source';

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const storySchema = buildStorySchema();
const validateStory = ajv.compile(storySchema);

function pathOf(instancePath: string): ValuePath {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}

/** Explains YAML's implicit typing where it gave a value of another type than the field needs. */
function yamlHint(source: YamlSource, path: ValuePath, value: unknown, types: string[]): string {
  const node = source.node(path);
  if (!isScalar(node) || !node.range) return '';
  const written = source.text.slice(node.range[0], node.range[1]);
  for (const type of types) {
    const hint = explainYamlScalar(written, value, type);
    if (hint !== '') return hint;
  }
  return '';
}

function valueAt(root: unknown, path: ValuePath): unknown {
  let current = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

function allowedProperties(schemaPath: string, root: unknown, path: ValuePath): string[] {
  if (path.length === 2 && path[0] === 'actions') {
    const type = (valueAt(root, path) as { type?: unknown } | undefined)?.type;
    const action = ACTION_TYPES.find((candidate) => candidate.type === type);
    if (action) return ['name', 'type', 'after', 'description', ...Object.keys(action.schema.properties)];
  }
  if (schemaPath.startsWith('#/additionalProperties') || path.length === 0) {
    return Object.keys((storySchema['properties'] as object) ?? {});
  }
  return [];
}

function problemFor(error: ErrorObject, source: YamlSource): LoadProblem | undefined {
  const path = pathOf(error.instancePath);
  const value = valueAt(source.value, path);
  const field = fieldName(path);
  const at = source.position(path);
  switch (error.keyword) {
    case 'if':
      return undefined;
    case 'additionalProperties': {
      const extra = String(error.params['additionalProperty']);
      const allowed = allowedProperties(error.schemaPath, source.value, path);
      return {
        code: 'unknown_field',
        message: `unknown field "${extra}"${didYouMean(extra, allowed)}`,
        field: fieldName([...path, extra]),
        position: source.keyPosition(path, extra),
      };
    }
    case 'required': {
      const missing = String(error.params['missingProperty']);
      return {
        code: 'missing_field',
        message: `missing required field "${missing}"`,
        field: field || '(story)',
        position: at,
      };
    }
    case 'enum': {
      const allowed = (error.params['allowedValues'] as unknown[]).map(String);
      const suggestion = typeof value === 'string' ? didYouMean(value, allowed) : '';
      return {
        code: path[path.length - 1] === 'type' ? 'unknown_type' : 'invalid_value',
        message: `must be one of ${allowed.join(', ')} (got ${describe(value)})${suggestion}`,
        field,
        position: at,
      };
    }
    case 'type': {
      const expected = String(error.params['type']).replace(/,/g, ' or ');
      return {
        code: 'invalid_type',
        message: `must be ${expected} (got ${describe(value)})${yamlHint(source, path, value, String(error.params['type']).split(','))}`,
        field,
        position: at,
      };
    }
    case 'pattern': {
      const identifier = path[path.length - 1] === 'name' || error.instancePath.includes('propertyName');
      const rule = identifier
        ? 'must be an identifier: letters, digits and _, not starting with a digit'
        : `must match ${String(error.params['pattern'])}`;
      return { code: 'invalid_value', message: `${rule} (got ${describe(value)})`, field, position: at };
    }
    case 'propertyNames':
      return undefined;
    default:
      return {
        code: 'invalid_value',
        message: `${error.message ?? 'is invalid'} (got ${describe(value)})`,
        field,
        position: at,
      };
  }
}

/** Validates the story's value; returns problems ordered by position, one per place and cause. */
export function schemaProblems(source: YamlSource): LoadProblem[] {
  if (validateStory(source.value)) return [];
  const problems: LoadProblem[] = [];
  const seen = new Set<string>();
  for (const error of validateStory.errors ?? []) {
    if (error.keyword === 'pattern' && error.propertyName !== undefined) {
      const path = [...pathOf(error.instancePath), error.propertyName];
      problems.push({
        code: 'invalid_name',
        message: 'must be an identifier: letters, digits and _, not starting with a digit',
        field: fieldName(path),
        position: source.keyPosition(pathOf(error.instancePath), error.propertyName),
      });
      continue;
    }
    const problem = problemFor(error, source);
    if (!problem) continue;
    const key = `${problem.field}|${problem.code}|${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

export { storySchema };
