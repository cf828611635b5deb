/**
 * Converts Tines Event Transform modes other than message: explode, implode, deduplicate,
 * delay, throttle and extract become the transform modes of the same names. Options whose
 * Tines name is not known here stay in the problem list, as for every agent.
 */
import { FormulaError, parseFormula } from './formula';
import { toJsonata } from './print';
import type { AgentConversion } from './conversion';

/** Returns a placeholder that keeps the action in the graph when a mode cannot be converted. */
function placeholder(conversion: AgentConversion, mode: string, reason: string) {
  conversion.problem('options.mode', `event transform mode ${JSON.stringify(mode)} ${reason}`);
  for (const key of Object.keys(conversion.agent.options)) conversion.take(key);
  return { type: 'transform', payload: { not_converted: `event transform in ${mode} mode` } };
}

/**
 * Converts a Tines value that names data (`<<a.items>>`, `{{ .a.items }}`, or a plain path as
 * older exports write it) into an `=` expression.
 */
function expression(conversion: AgentConversion, key: string): unknown {
  const written = conversion.take(key);
  if (typeof written !== 'string' || /<<|\{\{|\{%/.test(written)) {
    return conversion.value(written, `options.${key}`);
  }
  try {
    return `=${toJsonata(parseFormula(written.trim()), conversion.resolve)}`;
  } catch (error) {
    if (!(error instanceof FormulaError)) throw error;
    conversion.problem(`options.${key}`, `${JSON.stringify(written)}: ${error.message}`);
    return written;
  }
}

/** Copies a numeric option when it is set; Tines exports numbers as numbers or text. */
function number(
  conversion: AgentConversion,
  from: string,
  fields: Record<string, unknown>,
  to = from,
) {
  const written = conversion.take(from);
  if (written === undefined || written === '') return;
  const value = Number(written);
  if (Number.isFinite(value)) fields[to] = value;
  else conversion.problem(`options.${from}`, `${JSON.stringify(written)} is not a number`);
}

export function convertTransformMode(
  conversion: AgentConversion,
  mode: string,
): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: 'transform', mode };
  switch (mode) {
    case 'explode':
      fields.path = expression(conversion, 'path');
      if (typeof conversion.agent.options.to === 'string') fields.to = conversion.take('to');
      return fields;
    case 'implode':
      // NOTE: guid_path and size_path are the option names this importer expects from Tines;
      // an export that names them otherwise lists its options as not converted.
      fields.key = expression(conversion, 'guid_path');
      fields.size = expression(conversion, 'size_path');
      conversion.problem(
        'options.guid_path',
        'check key and size: story explode events carry explode_id and size for implode',
      );
      return fields;
    case 'deduplicate':
      fields.key = expression(conversion, 'path');
      number(conversion, 'period', fields);
      number(conversion, 'lookback', fields);
      return fields;
    case 'delay':
      number(conversion, 'seconds', fields);
      return fields;
    case 'throttle':
      number(conversion, 'limit', fields);
      number(conversion, 'period', fields);
      return fields;
    case 'extract':
      return convertExtract(conversion, fields);
    default:
      return placeholder(conversion, mode, 'has no equivalent; a placeholder payload stands in');
  }
}

/** Tines extract lists matchers; one matcher becomes the story's single text and pattern. */
function convertExtract(conversion: AgentConversion, fields: Record<string, unknown>) {
  const matchers = conversion.agent.options.matchers;
  if (!Array.isArray(matchers) || matchers.length !== 1) {
    return placeholder(conversion, 'extract', 'with other than one matcher is not converted');
  }
  conversion.take('matchers');
  const { path, regexp, to } = matchers[0] as Record<string, unknown>;
  fields.text = conversion.value(path, 'options.matchers[0].path');
  fields.pattern = regexp;
  fields.all = true;
  conversion.problem(
    'options.matchers[0].to',
    `the story emits {matches: [...]} where Tines emitted ${JSON.stringify(to)}; update the readers`,
  );
  return fields;
}
