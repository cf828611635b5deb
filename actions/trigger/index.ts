/**
 * trigger: passes the incoming event on when its condition holds. The condition is a
 * JSONata `when:` expression or Tines-style `rules:` combined with `match: all | any`.
 */
import { ActionError, type ActionSpec, type ActionType, type LoadProblem } from '../../engine/types';
import { compileRules, ruleMatches, RULE_SCHEMA, type CompiledRule } from './rules';

/** Rules compiled at load time, by the options object of their action. */
const compiledRules = new WeakMap<object, CompiledRule[]>();

export const trigger: ActionType = {
  type: 'trigger',
  schema: {
    description: 'Passes the incoming event on only when its condition matches.',
    properties: {
      when: {
        type: 'string',
        minLength: 1,
        description:
          'JSONata expression, without a leading `=`; the event passes when it yields a truthy value. ' +
          'Example: ' +
          "`$count(hook.body.failing_policies[name = \"x\"]) > 0`.",
      },
      rules: {
        type: 'array',
        minItems: 1,
        items: RULE_SCHEMA,
        description:
          'Tines-style rules, instead of `when`: a list of `{type, path, value}`. `path` is a JSONata ' +
          'path such as `hook.body.status`; `value` is a literal, template or `=` expression.',
      },
      match: {
        enum: ['all', 'any'],
        default: 'all',
        description: 'With `rules`: pass when all rules match, or when any one does.',
      },
    },
  },
  expressionFields: ['when'],
  inline: () => true,
  literalFields: ['match', 'rules'],

  check(action: ActionSpec): LoadProblem[] {
    const hasWhen = action.options['when'] !== undefined;
    const hasRules = action.options['rules'] !== undefined;
    if (hasWhen === hasRules) {
      const message = hasWhen
        ? 'has both `when` and `rules`; keep one of them'
        : 'needs a condition: add `when:` (a JSONata expression) or `rules:`';
      return [{ code: 'trigger_condition', message, field: 'when', position: action.position }];
    }
    if (!hasRules) return [];
    const { rules, problems } = compileRules(action);
    compiledRules.set(action.options, rules);
    return problems;
  },

  async run(input) {
    let matched: boolean;
    if (input.action.options['when'] !== undefined) {
      matched = Boolean(await input.field('when'));
    } else {
      const rules = compiledRules.get(input.action.options) ?? compileRules(input.action).rules;
      const mode = input.action.options['match'] ?? 'all';
      const results: boolean[] = [];
      for (const rule of rules) results.push(await ruleMatches(rule, input.context));
      matched = mode === 'any' ? results.some(Boolean) : results.every(Boolean);
    }
    if (typeof matched !== 'boolean') throw new ActionError('condition did not yield a value');
    return matched ? { emit: [input.event], summary: 'matched' } : { emit: [], summary: 'no match' };
  },
};
