/**
 * Prints parsed Tines formulas as JSONata or as the inside of a Handlebars mustache. Only
 * functions with a direct equivalent print; any other raises FormulaError.
 */
import { FormulaError, type FormulaNode } from './formula';

/** Maps the first name of a path (an action, CREDENTIAL, RESOURCE) to the story's name. */
export type RootResolver = (name: string) => string;

/** True for a path made of names, fields and literal indexes only: `a.b[0].c`. */
export function isPlainPath(node: FormulaNode): boolean {
  if (node.kind === 'name') return true;
  if (node.kind === 'member') return isPlainPath(node.object);
  if (node.kind === 'index') {
    return node.index.kind === 'literal' && isPlainPath(node.object);
  }
  return false;
}

const JSONATA_KEYWORDS = new Set(['and', 'or', 'in', 'true', 'false', 'null', 'function']);

function jsonataName(name: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !JSONATA_KEYWORDS.has(name);
  if (plain) return name;
  if (name.includes('`'))
    throw new FormulaError(`field name ${JSON.stringify(name)} contains a backtick`);
  return `\`${name}\``;
}

const BINARY_JSONATA: Record<string, string> = {
  '&&': 'and',
  '||': 'or',
  '==': '=',
  '<>': '!=',
};

/** Functions whose JSONata counterpart takes the same arguments and returns the same value. */
const JSONATA_FUNCTIONS: Record<string, string> = {
  UPCASE: '$uppercase',
  DOWNCASE: '$lowercase',
  BASE64_ENCODE: '$base64encode',
  BASE64_DECODE: '$base64decode',
  URL_ENCODE: '$encodeUrlComponent',
  SPLIT: '$split',
  JOIN: '$join',
  REPLACE: '$replace',
  UNIQ: '$distinct',
  SORT: '$sort',
  KEYS: '$keys',
  SUM: '$sum',
  NOW: '$now',
  NOT: '$not',
};

/** Tines functions that take an array and a LAMBDA, with the JSONata form they become. */
const LAMBDA_FUNCTIONS: Record<string, (array: string, fn: string) => string> = {
  FIND: (array, fn) => `$filter(${array}, ${fn})[0]`,
  FILTER: (array, fn) => `$filter(${array}, ${fn})`,
  MAP: (array, fn) => `$map(${array}, ${fn})`,
};

/** Prints a formula as JSONata; raises FormulaError for a function with no direct equivalent. */
export function toJsonata(node: FormulaNode, resolve: RootResolver): string {
  return printJsonata(node, resolve, new Set(), 0);
}

/** JSONata binding strength of each binary operator, as in JSONata's own operator table. */
const JSONATA_PRECEDENCE: Record<string, number> = {
  or: 25,
  and: 30,
  '=': 40,
  '!=': 40,
  '<': 40,
  '<=': 40,
  '>': 40,
  '>=': 40,
  '&': 50,
  '+': 50,
  '-': 50,
  '*': 60,
  '/': 60,
};

/** Binding strength of `? :`, looser than every binary operator. */
const CONDITIONAL_PRECEDENCE = 20;

/**
 * Prints one node. `context` is the binding strength the surrounding expression needs, so a
 * looser child gets parentheses and a top-level expression gets none.
 */
function printJsonata(
  node: FormulaNode,
  resolve: RootResolver,
  params: Set<string>,
  context: number,
): string {
  const print = (child: FormulaNode, strength = 0) =>
    printJsonata(child, resolve, params, strength);
  const wrap = (text: string, strength: number) => (strength < context ? `(${text})` : text);
  switch (node.kind) {
    case 'literal':
      return JSON.stringify(node.value);
    case 'name':
      return params.has(node.name) ? `$${node.name}` : jsonataName(resolve(node.name));
    case 'member':
      return `${print(node.object, 100)}.${jsonataName(node.name)}`;
    case 'index':
      if (node.index.kind === 'literal' && typeof node.index.value === 'string') {
        return `${print(node.object, 100)}.${jsonataName(node.index.value)}`;
      }
      return `${print(node.object, 100)}[${print(node.index)}]`;
    case 'unary':
      return `-${print(node.operand, 100)}`;
    case 'binary': {
      const op = BINARY_JSONATA[node.op] ?? node.op;
      const strength = JSONATA_PRECEDENCE[op];
      // Left-associative: an equal-strength child on the right needs parentheses.
      return wrap(
        `${print(node.left, strength)} ${op} ${print(node.right, strength + 1)}`,
        strength,
      );
    }
    case 'array':
      return `[${node.items.map((item) => print(item)).join(', ')}]`;
    case 'call':
      if (node.name === 'AND' || node.name === 'OR') return print(logicalChain(node), context);
      if (node.name === 'IF') {
        if (node.args.length < 2 || node.args.length > 3) {
          throw new FormulaError(`IF takes 2 to 3 arguments, found ${node.args.length}`);
        }
        const strength = CONDITIONAL_PRECEDENCE;
        const otherwise = node.args.length === 3 ? ` : ${print(node.args[2], strength)}` : '';
        const text = `${print(node.args[0], strength + 1)} ? ${print(node.args[1], strength)}${otherwise}`;
        return wrap(text, strength);
      }
      return printCall(node, resolve, params);
  }
}

/** Rewrites AND(a, b, c) as a && b && c, so it prints with JSONata's `and`. */
function logicalChain(node: Extract<FormulaNode, { kind: 'call' }>): FormulaNode {
  if (node.args.length === 0) throw new FormulaError(`${node.name} needs at least 1 argument`);
  const op = node.name === 'AND' ? '&&' : '||';
  return node.args.reduce((left, right) => ({ kind: 'binary', op, left, right }));
}

function printCall(
  node: Extract<FormulaNode, { kind: 'call' }>,
  resolve: RootResolver,
  params: Set<string>,
): string {
  const print = (child: FormulaNode) => printJsonata(child, resolve, params, 0);
  const args = node.args;
  const arity = (min: number, max: number) => {
    if (args.length < min || args.length > max) {
      const expected = min === max ? `${min}` : `${min} to ${max}`;
      throw new FormulaError(`${node.name} takes ${expected} arguments, found ${args.length}`);
    }
  };

  if (node.name === 'FIRST' || node.name === 'LAST') {
    arity(1, 1);
    // Parentheses index the whole result: JSONata reads `a.b[0]` as the first b of each a.
    return `(${print(args[0])})[${node.name === 'FIRST' ? 0 : -1}]`;
  }
  const lambdaForm = LAMBDA_FUNCTIONS[node.name];
  if (lambdaForm !== undefined) {
    arity(2, 2);
    return lambdaForm(print(args[0]), printLambda(args[1], resolve, params));
  }
  const name = JSONATA_FUNCTIONS[node.name];
  if (name === undefined) {
    throw new FormulaError(`function ${node.name} has no direct JSONata equivalent`);
  }
  return `${name}(${args.map(print).join(', ')})`;
}

function printLambda(node: FormulaNode, resolve: RootResolver, params: Set<string>): string {
  if (node.kind !== 'call' || node.name !== 'LAMBDA' || node.args.length < 2) {
    throw new FormulaError('expected LAMBDA(parameter, ..., body) as the second argument');
  }
  const names = node.args.slice(0, -1).map((arg) => {
    if (arg.kind !== 'name') throw new FormulaError('LAMBDA parameters must be plain names');
    return arg.name;
  });
  const inner = new Set([...params, ...names]);
  const body = printJsonata(node.args[node.args.length - 1], resolve, inner, 0);
  return `function(${names.map((name) => `$${name}`).join(', ')}) { ${body} }`;
}

/** Handlebars helpers that take one value, by the Tines function they replace. */
const TEMPLATE_HELPERS: Record<string, string> = {
  BASE64_ENCODE: 'base64',
  BASE64_DECODE: 'base64_decode',
  URL_ENCODE: 'url_encode',
};

/**
 * Prints a formula as the inside of a Handlebars mustache (`get_host.body.[0]`,
 * `base64 mdm_command.plist`, `uuid`), or returns undefined when it needs JSONata instead.
 */
export function toTemplate(node: FormulaNode, resolve: RootResolver): string | undefined {
  if (isPlainPath(node)) return templatePath(node, resolve);
  if (node.kind !== 'call') return undefined;
  if (node.name === 'UUID' && node.args.length === 0) return 'uuid';
  const helper = TEMPLATE_HELPERS[node.name];
  if (helper !== undefined && node.args.length === 1 && isPlainPath(node.args[0])) {
    return `${helper} ${templatePath(node.args[0], resolve)}`;
  }
  return undefined;
}

function templatePath(node: FormulaNode, resolve: RootResolver): string {
  switch (node.kind) {
    case 'name':
      return resolve(node.name);
    case 'member':
      return `${templatePath(node.object, resolve)}.${templateSegment(node.name)}`;
    case 'index':
      if (node.index.kind !== 'literal') throw new FormulaError('index must be a literal');
      return `${templatePath(node.object, resolve)}.${templateSegment(String(node.index.value))}`;
    default:
      throw new FormulaError(`not a path: ${node.kind}`);
  }
}

/** Handlebars reads `[...]` as a literal segment, which covers digits and odd field names. */
function templateSegment(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return name;
  if (/[\]\s}]/.test(name)) {
    throw new FormulaError(`field name ${JSON.stringify(name)} cannot be written in a template`);
  }
  return `[${name}]`;
}
