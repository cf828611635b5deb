/**
 * Tines-style trigger rules. Each rule compares `path`, a JSONata path such as
 * `hook.body.status`, with `value` (a literal, template or `=` expression) using `type`.
 */
import {
  compileJsonata,
  compileValue,
  evaluateJsonata,
  ExpressionError,
  type ValueProblem,
} from '../../engine/expressions';
import type { ActionSpec, CompiledValue, EvalContext, LoadProblem } from '../../engine/types';

export interface Rule {
  type: string;
  path: string;
  value?: unknown;
}

export interface CompiledRule {
  type: string;
  path: (context: EvalContext) => Promise<unknown>;
  value: CompiledValue;
}

/** Compiles every rule of a trigger; syntax errors come back as load problems. */
export function compileRules(action: ActionSpec): { rules: CompiledRule[]; problems: LoadProblem[] } {
  const rules: CompiledRule[] = [];
  const problems: LoadProblem[] = [];
  const written = (action.options['rules'] as Rule[] | undefined) ?? [];
  written.forEach((rule, index) => {
    const valueProblems: ValueProblem[] = [];
    let path: CompiledRule['path'] = async () => undefined;
    try {
      const expression = compileJsonata(String(rule.path));
      path = (context) => evaluateJsonata(expression, context);
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      valueProblems.push({ path: ['path'], error });
    }
    const value = compileValue(rule.value, undefined, valueProblems, ['value']);
    const literal = typeof rule.value === 'string' && value.constant;
    if (literal && (rule.type === 'regex' || rule.type === '!regex')) {
      try {
        new RegExp(rule.value as string);
      } catch (error) {
        const message = `invalid regular expression: ${(error as Error).message}`;
        valueProblems.push({ path: ['value'], error: new ExpressionError(message, undefined) });
      }
    }
    for (const problem of valueProblems) {
      problems.push({
        code: 'expression_syntax',
        message: problem.error.message,
        field: `rules[${index}].${problem.path.join('.')}`,
        position: action.fieldPositions['rules'],
      });
    }
    rules.push({ type: rule.type, path, value });
  });
  return { rules, problems };
}

export const RULE_TYPES = [
  'field==value',
  'field!=value',
  'field>value',
  'field>=value',
  'field<value',
  'field<=value',
  'regex',
  '!regex',
  'in',
  '!in',
  'is present',
  'is not present',
  'is empty',
  'is not empty',
  'is true',
  'is false',
] as const;

export const RULE_SCHEMA = {
  type: 'object',
  properties: {
    type: { enum: RULE_TYPES, description: 'Comparison between `path` and `value`.' },
    path: {
      type: 'string',
      minLength: 1,
      description: 'JSONata path of the value to test, such as `hook.body.status`.',
    },
    value: { description: 'Value to compare with; a regular expression for `regex`.' },
  },
  required: ['type', 'path'],
  additionalProperties: false,
};

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

function compare(left: unknown, right: unknown): number {
  const a = Number(left);
  const b = Number(right);
  if (!Number.isNaN(a) && !Number.isNaN(b)) return a - b;
  return String(left).localeCompare(String(right));
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function contains(list: unknown, item: unknown): boolean {
  if (Array.isArray(list)) return list.some((entry) => asText(entry) === asText(item));
  return asText(list).includes(asText(item));
}

export async function ruleMatches(rule: CompiledRule, context: EvalContext): Promise<boolean> {
  const actual = await rule.path(context);
  const expected = await rule.value.evaluate(context);
  switch (rule.type) {
    case 'field==value':
      return asText(actual) === asText(expected);
    case 'field!=value':
      return asText(actual) !== asText(expected);
    case 'field>value':
      return compare(actual, expected) > 0;
    case 'field>=value':
      return compare(actual, expected) >= 0;
    case 'field<value':
      return compare(actual, expected) < 0;
    case 'field<=value':
      return compare(actual, expected) <= 0;
    case 'regex':
      return new RegExp(asText(expected)).test(asText(actual));
    case '!regex':
      return !new RegExp(asText(expected)).test(asText(actual));
    case 'in':
      return contains(expected, actual);
    case '!in':
      return !contains(expected, actual);
    case 'is present':
      return actual !== undefined && actual !== null;
    case 'is not present':
      return actual === undefined || actual === null;
    case 'is empty':
      return isEmpty(actual);
    case 'is not empty':
      return !isEmpty(actual);
    case 'is true':
      return actual === true || actual === 'true';
    case 'is false':
      return actual === false || actual === 'false';
    default:
      throw new Error(`unknown rule type "${rule.type}"`);
  }
}
