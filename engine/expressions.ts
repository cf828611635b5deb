/**
 * Compiles story values once at load time. A string starting with `=` is a JSONata
 * expression yielding any JSON value, and `\=` escapes a literal `=`. Another string
 * containing `{{` is a Handlebars template yielding a string. Everything else is literal.
 * Objects and arrays are walked, so expressions and templates can sit at any depth.
 */
import { randomUUID } from 'node:crypto';
import Handlebars from 'handlebars';
import jsonata from 'jsonata';
import { HELPERS, HELPER_NAMES } from './helpers';
import { compileLimited, limitError } from './security/expression-limits';
import type { CompiledValue, EvalContext } from './types';

/** Parses templates; each template is compiled in an environment of its own (environmentFor). */
const handlebars = Handlebars.create();

/** Helpers Handlebars itself calls for names that are neither helpers nor data, and sections. */
const HANDLEBARS_HOOKS = new Set(['helperMissing', 'blockHelperMissing']);

/**
 * Adds the first segment of every path in a template's syntax tree (helper names among them).
 * It adds `each` when the tree has a block, because blockHelperMissing calls `each` for a
 * section such as `{{#list}}...{{/list}}` whose name is a list in the data.
 */
function pathHeads(node: unknown, heads: Set<string>): void {
  if (Array.isArray(node)) {
    for (const child of node) pathHeads(child, heads);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const path = node as { type?: unknown; parts?: unknown };
  if (path.type === 'PathExpression' && Array.isArray(path.parts) && typeof path.parts[0] === 'string') {
    heads.add(path.parts[0]);
  }
  if (path.type === 'BlockStatement') heads.add('each');
  for (const [key, value] of Object.entries(node)) if (key !== 'loc') pathHeads(value, heads);
}

/**
 * Creates a Handlebars environment with only the helpers a template names. Handlebars wraps
 * every helper of the environment on each call of a template, so a template in an environment
 * with all 25 helpers allocated about 40 KB per flow of the Fleet story for nothing.
 */
function environmentFor(program: hbs.AST.Program): typeof Handlebars {
  const heads = new Set<string>();
  pathHeads(program, heads);
  // Handlebars' `unless` calls the environment's `if` helper.
  if (heads.has('unless')) heads.add('if');
  const environment = Handlebars.create();
  for (const name of Object.keys(environment.helpers)) {
    if (!heads.has(name) && !HANDLEBARS_HOOKS.has(name)) environment.unregisterHelper(name);
  }
  for (const [name, helper] of Object.entries(HELPERS)) {
    if (heads.has(name)) environment.registerHelper(name, helper);
  }
  return environment;
}

/** Names every story may use at the root of an expression besides upstream action names. */
export const CONTEXT_ROOTS = ['credentials', 'resources', 'meta'] as const;

/** Load-time failure of one expression or template, with the offset of the problem in it. */
export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly offset: number | undefined,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

/** Checks a root name used by an expression; returns a message when the name is unknown. */
export type RootCheck = (name: string) => string | undefined;

const JSONATA_BINDINGS = { uuid: () => randomUUID() };

/** Turns JSONata's results into plain JSON values (sequences become arrays, functions vanish). */
function plain(value: unknown): unknown {
  if (value === undefined || value === null || typeof value !== 'object') {
    return typeof value === 'function' ? undefined : value;
  }
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function describeJsonataError(error: unknown): ExpressionError {
  const failure = error as { message?: string; position?: number; token?: string };
  const message = failure.message ?? String(error);
  return new ExpressionError(`invalid JSONata: ${message}`, failure.position);
}

/** Collects the first step of every top-level path in a JSONata syntax tree. */
function jsonataRoots(node: jsonata.ExprNode | undefined, roots: Set<string>): void {
  if (!node) return;
  switch (node.type as string) {
    case 'path': {
      const first = node.steps?.[0];
      if (first?.type === 'name' && typeof first.value === 'string') roots.add(first.value);
      else jsonataRoots(first, roots);
      return;
    }
    case 'name':
      if (typeof node.value === 'string') roots.add(node.value);
      return;
    case 'binary':
      jsonataRoots(node.lhs as jsonata.ExprNode, roots);
      jsonataRoots(node.rhs, roots);
      return;
    case 'unary':
      if (node.value === '[') node.expressions?.forEach((child) => jsonataRoots(child, roots));
      else if (node.value === '{' && Array.isArray(node.lhs)) {
        for (const pair of node.lhs as [jsonata.ExprNode, jsonata.ExprNode][]) {
          jsonataRoots(pair[0], roots);
          jsonataRoots(pair[1], roots);
        }
      } else jsonataRoots(node.expression as jsonata.ExprNode | undefined, roots);
      return;
    case 'function':
    case 'partial':
      node.arguments?.forEach((child) => jsonataRoots(child, roots));
      return;
    case 'condition':
      jsonataRoots(node.condition as jsonata.ExprNode, roots);
      jsonataRoots(node.then as jsonata.ExprNode, roots);
      jsonataRoots(node.else as jsonata.ExprNode | undefined, roots);
      return;
    case 'block':
      node.expressions?.forEach((child) => jsonataRoots(child, roots));
      return;
    default:
      return;
  }
}

declare module 'jsonata' {
  interface ExprNode {
    expression?: ExprNode;
    condition?: ExprNode;
    then?: ExprNode;
    else?: ExprNode;
  }
}

function checkRoots(roots: Iterable<string>, check: RootCheck | undefined): void {
  if (!check) return;
  for (const root of roots) {
    const problem = check(root);
    if (problem) throw new ExpressionError(problem, undefined);
  }
}

/** Compiles a JSONata expression; a syntax error or unknown root name throws ExpressionError. */
export function compileJsonata(source: string, check?: RootCheck): jsonata.Expression {
  let expression: jsonata.Expression;
  try {
    expression = compileLimited(source);
  } catch (error) {
    throw describeJsonataError(error);
  }
  const roots = new Set<string>();
  jsonataRoots(expression.ast(), roots);
  checkRoots(roots, check);
  return expression;
}

/**
 * Evaluates an expression from compileJsonata, which sets the default time and depth limits
 * (DEFAULT_EXPRESSION_LIMITS), and wraps its thrown plain objects in Errors.
 */
export async function evaluateJsonata(
  expression: jsonata.Expression,
  context: EvalContext,
): Promise<unknown> {
  try {
    return plain(await expression.evaluate(context, JSONATA_BINDINGS));
  } catch (raw) {
    const error = limitError(raw);
    if (error instanceof Error) throw error;
    const failure = error as { message?: string; code?: string };
    throw new Error(`JSONata evaluation failed: ${failure.message ?? failure.code ?? 'unknown'}`);
  }
}

type HandlebarsNode = hbs.AST.Node & {
  path?: hbs.AST.PathExpression | hbs.AST.Expression;
  params?: hbs.AST.Expression[];
  hash?: hbs.AST.Hash;
  body?: hbs.AST.Statement[];
};

/** Collects helper calls and top-level path roots of a Handlebars template. */
function templateNames(
  program: hbs.AST.Program,
  helpers: Set<string>,
  roots: Set<string>,
): void {
  const visitExpression = (node: HandlebarsNode | undefined): void => {
    if (!node) return;
    if (node.type === 'PathExpression') {
      const path = node as hbs.AST.PathExpression;
      if (path.data || (path as { this_?: boolean }).this_ || path.parts.length === 0 || path.depth > 0) return;
      if (!HELPER_NAMES.has(path.parts[0] as string)) roots.add(path.parts[0] as string);
      return;
    }
    if (node.type === 'SubExpression') visitCall(node);
  };
  const visitCall = (node: HandlebarsNode): void => {
    const path = node.path as hbs.AST.PathExpression | undefined;
    const isCall = (node.params?.length ?? 0) > 0 || (node.hash?.pairs.length ?? 0) > 0;
    if (path?.type === 'PathExpression' && isCall) helpers.add(path.original);
    else visitExpression(node.path as HandlebarsNode);
    node.params?.forEach((param) => visitExpression(param as HandlebarsNode));
    node.hash?.pairs.forEach((pair) => visitExpression(pair.value as HandlebarsNode));
  };
  for (const statement of program.body as HandlebarsNode[]) {
    if (statement.type === 'MustacheStatement') visitCall(statement);
    if (statement.type === 'BlockStatement') {
      const block = statement as HandlebarsNode;
      block.params?.forEach((param) => visitExpression(param as HandlebarsNode));
    }
  }
}

const BLOCK_HELPERS = new Set(['if', 'unless', 'each', 'with', 'lookup', 'log']);

/** Compiles a Handlebars template with HTML escaping off; unknown helpers are load errors. */
export function compileTemplate(source: string, check?: RootCheck): (context: unknown) => string {
  let program: hbs.AST.Program;
  try {
    program = handlebars.parse(source);
  } catch (error) {
    const message = (error as Error).message.replace(/\s+/g, ' ').trim();
    throw new ExpressionError(`invalid Handlebars template: ${message}`, undefined);
  }
  const helpers = new Set<string>();
  const roots = new Set<string>();
  templateNames(program, helpers, roots);
  for (const helper of helpers) {
    if (!HELPER_NAMES.has(helper) && !BLOCK_HELPERS.has(helper)) {
      const known = [...HELPER_NAMES].join(', ');
      throw new ExpressionError(`unknown helper "${helper}"; known helpers: ${known}`, undefined);
    }
  }
  checkRoots(roots, check);
  const template = environmentFor(program).compile(program, { noEscape: true });
  return (context) => template(context);
}

const CONSTANT_UNDEFINED: CompiledValue = {
  constant: true,
  evaluate: async () => undefined,
};

function constant(value: unknown): CompiledValue {
  return { constant: true, evaluate: async () => value };
}

/** Problem of one leaf of a value, with its path (`body.host_uuids`) for load errors. */
export interface ValueProblem {
  path: (string | number)[];
  error: ExpressionError;
}

/**
 * Compiles a value tree. Problems are collected with the path of each bad leaf so that the
 * loader can report all of them with their positions.
 */
export function compileValue(
  raw: unknown,
  check: RootCheck | undefined,
  problems: ValueProblem[],
  path: (string | number)[] = [],
): CompiledValue {
  if (raw === undefined) return CONSTANT_UNDEFINED;
  if (typeof raw === 'string') return compileString(raw, check, problems, path);
  if (Array.isArray(raw)) {
    const items = raw.map((item, index) => compileValue(item, check, problems, [...path, index]));
    if (items.every((item) => item.constant)) return constant(raw);
    return {
      constant: false,
      evaluate: (context) => Promise.all(items.map((item) => item.evaluate(context))),
    };
  }
  if (raw !== null && typeof raw === 'object') {
    const entries = Object.entries(raw).map(
      ([key, value]) => [key, compileValue(value, check, problems, [...path, key])] as const,
    );
    if (entries.every(([, value]) => value.constant)) return constant(raw);
    return {
      constant: false,
      evaluate: async (context) => {
        const result: Record<string, unknown> = {};
        for (const [key, value] of entries) result[key] = await value.evaluate(context);
        return result;
      },
    };
  }
  return constant(raw);
}

function compileString(
  raw: string,
  check: RootCheck | undefined,
  problems: ValueProblem[],
  path: (string | number)[],
): CompiledValue {
  try {
    if (raw.startsWith('\\=')) return constant(raw.slice(1));
    if (raw.startsWith('=')) {
      const expression = compileJsonata(raw.slice(1), check);
      return { constant: false, evaluate: (context) => evaluateJsonata(expression, context) };
    }
    if (raw.includes('{{')) {
      const template = compileTemplate(raw, check);
      return { constant: false, evaluate: async (context) => template(context) };
    }
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    problems.push({ path, error });
    return CONSTANT_UNDEFINED;
  }
  return constant(raw);
}

/** Compiles a field that is a JSONata expression without the leading `=` (a trigger's `when`). */
export function compileExpressionField(
  raw: unknown,
  check: RootCheck | undefined,
  problems: ValueProblem[],
): CompiledValue {
  if (typeof raw !== 'string') return constant(raw);
  try {
    const expression = compileJsonata(raw, check);
    return { constant: false, evaluate: (context) => evaluateJsonata(expression, context) };
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    const hint = raw.startsWith('=') ? '; this field is a JSONata expression already, so leave out the leading "="' : '';
    problems.push({ path: [], error: new ExpressionError(`${error.message}${hint}`, error.offset) });
    return CONSTANT_UNDEFINED;
  }
}
