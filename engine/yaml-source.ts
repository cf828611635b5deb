/** A parsed YAML document that maps value paths back to file positions. */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { LoadProblem, SourcePosition } from './types';

export const MAX_STORY_BYTES = 1024 * 1024;
export const MAX_ALIAS_COUNT = 100;

export type ValuePath = (string | number)[];

export class YamlSource {
  readonly value: unknown;
  readonly problems: LoadProblem[] = [];
  private readonly document: Document.Parsed;
  private readonly lines = new LineCounter();

  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.document = parseDocument(text, {
      lineCounter: this.lines,
      uniqueKeys: true,
      prettyErrors: false,
    });
    for (const error of this.document.errors) {
      let message = `invalid YAML: ${error.message.split('\n')[0] ?? error.message}`;
      if (error.code === 'DUPLICATE_KEY') {
        const key = /^("[^"]*"|'[^']*'|[^:\n]+?)\s*:/.exec(text.slice(error.pos[0]))?.[1] ?? '?';
        message = `duplicate key ${key.startsWith('"') ? key : JSON.stringify(key)}; a key may appear once per mapping, so remove or rename one`;
      }
      this.problems.push({
        code: error.code === 'DUPLICATE_KEY' ? 'duplicate_key' : 'yaml_syntax',
        message,
        field: '',
        position: this.at(error.pos[0]),
      });
    }
    let value: unknown;
    if (this.problems.length === 0) {
      try {
        value = this.document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
      } catch (error) {
        this.problems.push({
          code: 'yaml_aliases',
          message: /alias/i.test((error as Error).message)
            ? `invalid YAML: more than ${MAX_ALIAS_COUNT} alias expansions (*name uses), as in a ` +
              'resource exhaustion attack; write the repeated values out or use fewer aliases'
            : `invalid YAML: ${(error as Error).message}`,
          field: '',
          position: this.at(0),
        });
      }
    }
    this.value = value;
  }

  /** Position of a byte offset. */
  at(offset: number): SourcePosition {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /** Returns the node at a value path, or its deepest existing ancestor. */
  node(path: ValuePath): Node | undefined {
    let current: unknown = this.document.contents;
    for (const key of path) {
      if (isMap(current) || isSeq(current)) {
        const next = current.get(key, true) as unknown;
        if (next === undefined) return current as Node;
        current = next;
      } else {
        break;
      }
    }
    return current as Node | undefined;
  }

  /** Position of the value at `path` (or of its nearest existing ancestor). */
  position(path: ValuePath): SourcePosition {
    const node = this.node(path);
    return this.at(node?.range?.[0] ?? 0);
  }

  /** Position of the key `key` inside the map at `path`. */
  keyPosition(path: ValuePath, key: string): SourcePosition {
    const map = this.node(path);
    if (isMap(map)) {
      for (const pair of map.items) {
        if (isScalar(pair.key) && pair.key.value === key && pair.key.range) {
          return this.at(pair.key.range[0]);
        }
      }
    }
    return this.position(path);
  }

  /**
   * Position of a character inside a one-line scalar, such as the column of a JSONata syntax
   * error; falls back to the scalar's start.
   */
  positionInScalar(path: ValuePath, offset: number | undefined, prefix: number): SourcePosition {
    const node = this.node(path);
    const start = this.at(node?.range?.[0] ?? 0);
    if (offset === undefined || !isScalar(node) || !node.range) return start;
    const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
    const plainOrQuoted = node.type === 'PLAIN' || quoted;
    const source = this.text.slice(node.range[0], node.range[1]);
    if (!plainOrQuoted || source.includes('\n')) return start;
    return { ...start, col: start.col + (quoted ? 1 : 0) + prefix + Math.max(0, offset - 1) };
  }
}

/** Formats a value path as `actions[3].headers.Authorization`. */
export function fieldName(path: ValuePath): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) text += text === '' ? key : `.${key}`;
    else text += `[${JSON.stringify(key)}]`;
  }
  return text;
}
