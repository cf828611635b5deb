/**
 * Parses Tines formulas, the text inside a `<<...>>` pill, into a small syntax tree that
 * print.ts writes as JSONata or as a Handlebars template.
 */

/** A formula that cannot be read, or that has no direct equivalent in a story. */
export class FormulaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormulaError';
  }
}

export type FormulaNode =
  | { kind: 'literal'; value: string | number | boolean | null }
  | { kind: 'name'; name: string }
  | { kind: 'member'; object: FormulaNode; name: string }
  | { kind: 'index'; object: FormulaNode; index: FormulaNode }
  | { kind: 'call'; name: string; args: FormulaNode[] }
  | { kind: 'unary'; op: '-'; operand: FormulaNode }
  | { kind: 'binary'; op: string; left: FormulaNode; right: FormulaNode }
  | { kind: 'array'; items: FormulaNode[] };

interface Token {
  kind: 'number' | 'string' | 'name' | 'op' | 'end';
  text: string;
  value?: string | number;
  at: number;
}

const OPERATORS = [
  '&&',
  '||',
  '==',
  '!=',
  '<>',
  '<=',
  '>=',
  '=',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '&',
];
const PUNCTUATION = '()[],.';

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < source.length) {
    const char = source[at];
    if (/\s/.test(char)) {
      at += 1;
      continue;
    }
    const number = /^\d+(\.\d+)?/.exec(source.slice(at));
    if (number !== null) {
      tokens.push({ kind: 'number', text: number[0], value: Number(number[0]), at });
      at += number[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(at));
    if (name !== null) {
      tokens.push({ kind: 'name', text: name[0], at });
      at += name[0].length;
      continue;
    }
    if (char === '"' || char === "'") {
      const [text, value] = readString(source, at);
      tokens.push({ kind: 'string', text, value, at });
      at += text.length;
      continue;
    }
    const op = OPERATORS.find((candidate) => source.startsWith(candidate, at));
    if (op !== undefined || PUNCTUATION.includes(char)) {
      const text = op ?? char;
      tokens.push({ kind: 'op', text, at });
      at += text.length;
      continue;
    }
    throw new FormulaError(`unexpected character "${char}" at column ${at + 1}`);
  }
  tokens.push({ kind: 'end', text: 'end of formula', at });
  return tokens;
}

/** Reads a quoted string with backslash escapes; returns the source text and the value. */
function readString(source: string, start: number): [string, string] {
  const quote = source[start];
  let value = '';
  let at = start + 1;
  while (at < source.length && source[at] !== quote) {
    if (source[at] === '\\' && at + 1 < source.length) {
      const next = source[at + 1];
      value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
      at += 2;
    } else {
      value += source[at];
      at += 1;
    }
  }
  if (at >= source.length) {
    throw new FormulaError(`string starting at column ${start + 1} has no closing ${quote}`);
  }
  return [source.slice(start, at + 1), value];
}

/** Binary operators from loosest to tightest binding. */
const PRECEDENCE: string[][] = [
  ['||'],
  ['&&'],
  ['=', '==', '!=', '<>', '<', '<=', '>', '>='],
  ['&'],
  ['+', '-'],
  ['*', '/'],
];

/** Parses one formula; raises FormulaError with the column of a syntax error. */
export function parseFormula(source: string): FormulaNode {
  const tokens = tokenize(source);
  let position = 0;
  const peek = () => tokens[position];
  const isOp = (text: string) => peek().kind === 'op' && peek().text === text;
  const expect = (text: string) => {
    if (!isOp(text)) {
      throw new FormulaError(`expected "${text}" at column ${peek().at + 1}, found ${peek().text}`);
    }
    position += 1;
  };

  function binary(level: number): FormulaNode {
    if (level === PRECEDENCE.length) return unary();
    let left = binary(level + 1);
    while (peek().kind === 'op' && PRECEDENCE[level].includes(peek().text)) {
      const op = tokens[position++].text;
      left = { kind: 'binary', op, left, right: binary(level + 1) };
    }
    return left;
  }

  function unary(): FormulaNode {
    if (isOp('-')) {
      position += 1;
      return { kind: 'unary', op: '-', operand: unary() };
    }
    return postfix(primary());
  }

  function postfix(start: FormulaNode): FormulaNode {
    let node = start;
    for (;;) {
      if (isOp('.')) {
        position += 1;
        const token = tokens[position++];
        if (token.kind === 'name') node = { kind: 'member', object: node, name: token.text };
        else if (token.kind === 'number' && Number.isInteger(token.value)) {
          node = {
            kind: 'index',
            object: node,
            index: { kind: 'literal', value: token.value as number },
          };
        } else throw new FormulaError(`expected a field name after "." at column ${token.at + 1}`);
      } else if (isOp('[')) {
        position += 1;
        const index = binary(0);
        expect(']');
        node = { kind: 'index', object: node, index };
      } else {
        return node;
      }
    }
  }

  function list(close: string): FormulaNode[] {
    const items: FormulaNode[] = [];
    if (isOp(close)) {
      position += 1;
      return items;
    }
    for (;;) {
      items.push(binary(0));
      if (isOp(close)) {
        position += 1;
        return items;
      }
      expect(',');
    }
  }

  function primary(): FormulaNode {
    const token = tokens[position++];
    if (token.kind === 'number' || token.kind === 'string') {
      return { kind: 'literal', value: token.value as string | number };
    }
    if (token.kind === 'name') {
      const upper = token.text.toUpperCase();
      if (upper === 'TRUE' || upper === 'FALSE')
        return { kind: 'literal', value: upper === 'TRUE' };
      if (upper === 'NULL') return { kind: 'literal', value: null };
      if (isOp('(')) {
        position += 1;
        return { kind: 'call', name: upper, args: list(')') };
      }
      return { kind: 'name', name: token.text };
    }
    if (token.kind === 'op' && token.text === '(') {
      const inner = binary(0);
      expect(')');
      return inner;
    }
    if (token.kind === 'op' && token.text === '[') return { kind: 'array', items: list(']') };
    throw new FormulaError(`unexpected ${token.text} at column ${token.at + 1}`);
  }

  const node = binary(0);
  if (peek().kind !== 'end') {
    throw new FormulaError(`unexpected ${peek().text} at column ${peek().at + 1}`);
  }
  return node;
}
