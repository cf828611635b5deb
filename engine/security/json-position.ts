/**
 * Locates the first syntax error in a JSON text. Node 20's `JSON.parse` messages carry no
 * position, so a webhook sender would otherwise learn only that "the JSON" is wrong.
 *
 * The scanner is iterative (an explicit stack, no recursion), so deeply nested input cannot
 * overflow the call stack. It runs only after `JSON.parse` has failed.
 */

export interface JsonSyntaxProblem {
  /** Zero-based offset in UTF-16 code units. */
  offset: number;
  /** One-based line and column. */
  line: number;
  col: number;
  /** Description of the character found and of the token expected there. */
  detail: string;
}

type Expectation = 'value' | 'key' | 'colon' | 'comma' | 'end';

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERALS = ['true', 'false', 'null'];

/** Returns the first syntax problem of `text`, or undefined when it is valid JSON. */
export function findJsonSyntaxProblem(text: string): JsonSyntaxProblem | undefined {
  const stack: string[] = [];
  let expect: Expectation = 'value';
  let pos = 0;

  const fail = (offset: number, detail: string): JsonSyntaxProblem => ({
    offset,
    ...lineAndColumn(text, offset),
    detail,
  });
  const afterValue = (): Expectation => (stack.length > 0 ? 'comma' : 'end');

  for (;;) {
    pos = skipWhitespace(text, pos);
    if (pos >= text.length) {
      if (expect === 'end') return undefined;
      return fail(pos, `unexpected end of input, expected ${describe(expect, stack)}`);
    }
    const char = text[pos];

    if (expect === 'end') return fail(pos, `unexpected ${quote(char)} after the end of the JSON value`);

    if (expect === 'key') {
      if (char !== '"') return fail(pos, `unexpected ${quote(char)}, expected a property name in double quotes`);
      const end = scanString(text, pos);
      if (typeof end !== 'number') return fail(end.offset, end.detail);
      pos = end;
      expect = 'colon';
      continue;
    }

    if (expect === 'colon') {
      if (char !== ':') return fail(pos, `unexpected ${quote(char)}, expected ":" after the property name`);
      pos += 1;
      expect = 'value';
      continue;
    }

    if (expect === 'comma') {
      const open = stack[stack.length - 1];
      const close = open === '{' ? '}' : ']';
      if (char === ',') {
        pos += 1;
        expect = open === '{' ? 'key' : 'value';
      } else if (char === close) {
        pos += 1;
        stack.pop();
        expect = afterValue();
      } else {
        return fail(pos, `unexpected ${quote(char)}, expected "," or "${close}"`);
      }
      continue;
    }

    // expect === 'value'
    if (char === '{' || char === '[') {
      stack.push(char);
      pos = skipWhitespace(text, pos + 1);
      const close = char === '{' ? '}' : ']';
      if (text[pos] === close) {
        pos += 1;
        stack.pop();
        expect = afterValue();
      } else {
        expect = char === '{' ? 'key' : 'value';
      }
      continue;
    }
    if (char === '"') {
      const end = scanString(text, pos);
      if (typeof end !== 'number') return fail(end.offset, end.detail);
      pos = end;
      expect = afterValue();
      continue;
    }
    NUMBER.lastIndex = pos;
    const number = NUMBER.exec(text);
    if (number !== null && number[0] !== '-') {
      pos += number[0].length;
      expect = afterValue();
      continue;
    }
    const literal = LITERALS.find((word) => text.startsWith(word, pos));
    if (literal !== undefined) {
      pos += literal.length;
      expect = afterValue();
      continue;
    }
    return fail(pos, `unexpected ${quote(char)}, expected a value`);
  }
}

/** Returns the offset after the closing quote, or the problem inside the string. */
function scanString(text: string, start: number): number | { offset: number; detail: string } {
  let pos = start + 1;
  while (pos < text.length) {
    const code = text.charCodeAt(pos);
    if (code === 0x22) return pos + 1;
    if (code < 0x20) return { offset: pos, detail: 'control character inside a string; escape it' };
    if (code === 0x5c) {
      const escaped = text[pos + 1];
      if (escaped === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
          return { offset: pos, detail: 'invalid \\u escape, expected 4 hex digits' };
        }
        pos += 6;
        continue;
      }
      if (escaped === undefined || !'"\\/bfnrt'.includes(escaped)) {
        return { offset: pos, detail: `invalid escape ${quote('\\' + (escaped ?? ''))} inside a string` };
      }
      pos += 2;
      continue;
    }
    pos += 1;
  }
  return { offset: text.length, detail: 'unterminated string' };
}

function skipWhitespace(text: string, pos: number): number {
  while (pos < text.length) {
    const char = text[pos];
    if (char !== ' ' && char !== '\t' && char !== '\n' && char !== '\r') break;
    pos += 1;
  }
  return pos;
}

function describe(expect: Expectation, stack: string[]): string {
  if (expect === 'key') return 'a property name';
  if (expect === 'colon') return '":"';
  if (expect === 'comma') return stack[stack.length - 1] === '{' ? '"," or "}"' : '"," or "]"';
  return 'a value';
}

function quote(char: string): string {
  return JSON.stringify(char);
}

/** Converts an offset to one-based line and column. */
export function lineAndColumn(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i += 1) {
    if (text.charCodeAt(i) === 0x0a) {
      line += 1;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart + 1 };
}
