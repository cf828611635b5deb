/**
 * Converts a Tines trigger (rules with `must_match`) into a story trigger: `rules:` with
 * `match: all | any`, or a `when:` expression for a single formula rule tested for true.
 */
import { FormulaError, parseFormula } from './formula';
import { isPlainPath, toJsonata } from './print';
import { convertText } from './pills';
import type { AgentConversion } from './conversion';

/** Tines rule types and the story's equivalents. */
const RULE_TYPES: Record<string, string> = {
  'field==value': 'field==value',
  'field!=value': 'field!=value',
  'field>value': 'field>value',
  'field>=value': 'field>=value',
  'field<value': 'field<value',
  'field<=value': 'field<=value',
  regex: 'regex',
  '!regex': '!regex',
  in: 'in',
  'not in': '!in',
  '!in': '!in',
  'is present': 'is present',
  'is not present': 'is not present',
  'is empty': 'is empty',
  'is not empty': 'is not empty',
};

/** A condition that never passes, used when a trigger's condition could not be converted. */
const NEVER = 'false';

export function convertTrigger(conversion: AgentConversion): Record<string, unknown> {
  const rules = conversion.take('rules');
  const mustMatch = conversion.take('must_match');
  if (!Array.isArray(rules) || rules.length === 0) {
    conversion.problem('options.rules', 'the trigger has no rules; it never passes an event here');
    return { type: 'trigger', when: NEVER };
  }

  const converted = rules.map((rule, index) =>
    convertRule(rule, `options.rules[${index}]`, conversion),
  );
  if (converted.some((rule) => rule === undefined)) {
    conversion.problem(
      'options.rules',
      'a rule could not be converted, so the trigger never passes until fixed',
    );
    return { type: 'trigger', when: NEVER };
  }

  const count = mustMatch === undefined || mustMatch === '' ? rules.length : Number(mustMatch);
  if (count !== rules.length && count !== 1) {
    const message = `must_match ${JSON.stringify(mustMatch)} of ${rules.length} rules has no equivalent (only all or any)`;
    conversion.problem('options.must_match', `${message}, so the trigger never passes until fixed`);
    return { type: 'trigger', when: NEVER };
  }

  const only = converted[0] as ConvertedRule;
  if (rules.length === 1 && only.formula && only.type === 'field==value' && isTrue(only.value)) {
    return { type: 'trigger', when: only.path };
  }
  const fields: Record<string, unknown> = {
    type: 'trigger',
    rules: (converted as ConvertedRule[]).map(({ type, path, value }) =>
      value === undefined ? { type, path } : { type, path, value },
    ),
  };
  if (count === 1 && rules.length > 1) fields.match = 'any';
  return fields;
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

interface ConvertedRule {
  type: string;
  /** JSONata path or expression. */
  path: string;
  value?: unknown;
  /** True when the path is a computed formula rather than a field path. */
  formula: boolean;
}

function convertRule(
  rule: unknown,
  field: string,
  conversion: AgentConversion,
): ConvertedRule | undefined {
  if (rule === null || typeof rule !== 'object') {
    conversion.problem(
      field,
      `rule must be an object with type, path and value, found ${JSON.stringify(rule)}`,
    );
    return undefined;
  }
  const { type, path, value } = rule as Record<string, unknown>;
  const mapped = RULE_TYPES[String(type)];
  if (mapped === undefined) {
    conversion.problem(`${field}.type`, `rule type ${JSON.stringify(type)} has no equivalent`);
    return undefined;
  }
  const expression = rulePath(String(path ?? ''), `${field}.path`, conversion);
  if (expression === undefined) return undefined;
  const converted: ConvertedRule = { type: mapped, ...expression };
  if (value !== undefined) converted.value = conversion.value(value, `${field}.value`);
  return converted;
}

/** Turns a rule path (`<<a.b>>`, `{{ .a.b }}` or plain `a.b`) into a JSONata expression. */
function rulePath(
  text: string,
  field: string,
  conversion: AgentConversion,
): { path: string; formula: boolean } | undefined {
  const hasReference = /<<|\{\{|\{%/.test(text);
  try {
    const source = hasReference ? undefined : parseFormula(text.trim());
    if (source !== undefined)
      return { path: toJsonata(source, conversion.resolve), formula: !isPlainPath(source) };
  } catch (error) {
    if (!(error instanceof FormulaError)) throw error;
    conversion.problem(field, `${JSON.stringify(text)}: ${error.message}`);
    return undefined;
  }

  const converted = convertText(text, conversion.resolve, { expression: true });
  for (const message of converted.problems) conversion.problem(field, message);
  if (converted.problems.length > 0 || typeof converted.value !== 'string') return undefined;

  const expression = converted.value.slice(1);
  const single = /^\s*(<<[\s\S]*>>|\{\{[\s\S]*\}\})\s*$/.test(text);
  const plain =
    single && /^[A-Za-z_$`][\w.`\[\]$ -]*$/.test(expression) && !expression.includes('(');
  return { path: expression, formula: !plain };
}
