/**
 * Converts Tines option values into story values. Tines writes references as `<<pill>>`
 * formulas (older exports as Liquid: `{{ .path }}`, `{% credential name %}`); stories write
 * Handlebars templates (`{{path}}`) and `=` JSONata expressions.
 */
import { FormulaError, parseFormula, type FormulaNode } from './formula';
import { toJsonata, toTemplate, type RootResolver } from './print';

/** One reference or formula found in a text, as a formula source. */
interface Piece {
  literal: string;
  /** Formula source, or undefined for the trailing literal. */
  formula?: string;
  /** Text as written, kept when the formula cannot be converted. */
  written?: string;
  /** Set when the piece could not even be read as a formula (a Liquid filter). */
  unreadable?: string;
}

const PIECE_PATTERN = /<<([\s\S]*?)>>|\{\{([\s\S]*?)\}\}|\{%([\s\S]*?)%\}/g;

/** Splits text into literal runs and references (pills, Liquid output and Liquid tags). */
function splitPieces(text: string): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  for (const match of text.matchAll(PIECE_PATTERN)) {
    const literal = text.slice(last, match.index);
    last = (match.index ?? 0) + match[0].length;
    const [written, pill, liquidOutput, liquidTag] = match;
    if (pill !== undefined) pieces.push({ literal, formula: pill.trim(), written });
    else if (liquidOutput !== undefined)
      pieces.push({ literal, written, ...readLiquidOutput(liquidOutput) });
    else pieces.push({ literal, written, ...readLiquidTag(liquidTag) });
  }
  pieces.push({ literal: text.slice(last) });
  return pieces;
}

/** `{{ .a.b }}` is the path `a.b`; a Liquid filter (`| as_object`) has no direct equivalent. */
function readLiquidOutput(inner: string): Partial<Piece> {
  const path = inner.trim().replace(/^\./, '');
  if (path.includes('|')) return { unreadable: 'Liquid filters have no direct equivalent' };
  return { formula: path };
}

/** `{% credential x %}` and `{% global_resource x %}` become references; other tags do not. */
function readLiquidTag(inner: string): Partial<Piece> {
  const match = /^\s*(credential|global_resource)\s+([A-Za-z0-9_]+)\s*$/.exec(inner);
  if (match === null) return { unreadable: 'Liquid tags have no direct equivalent' };
  return { formula: `${match[1] === 'credential' ? 'CREDENTIAL' : 'RESOURCE'}.${match[2]}` };
}

export interface ConvertedValue {
  value: unknown;
  /** One message per reference that was kept as written. */
  problems: string[];
}

/** Escapes a literal so the engine reads it as plain text: `\=` at the start, `\{{`. */
function literalText(text: string, templated: boolean): string {
  const braces = templated ? text.replace(/\{\{/g, '\\{{') : text;
  return braces.startsWith('=') ? `\\${braces}` : braces;
}

/**
 * Converts a text value. A text that is one reference alone becomes an `=` expression,
 * because Tines keeps the referenced value's type (an array stays an array). References
 * inside text become `{{...}}` templates, or a JSONata concatenation when a formula has no
 * template form. A reference that cannot be converted stays as written and is reported.
 * With `expression`, the result is an `=` expression, or undefined when a reference fails.
 */
export function convertText(
  text: string,
  resolve: RootResolver,
  options: { expression?: boolean } = {},
): ConvertedValue {
  const pieces = splitPieces(text);
  if (pieces.length === 1) return { value: literalText(text, false), problems: [] };

  const problems: string[] = [];
  const references = pieces.slice(0, -1);
  const nodes = references.map((piece) => parsePiece(piece, problems));
  const templates = nodes.map((node) => node && tryTemplate(node, resolve));
  const whole = references.length === 1 && pieces[0].literal === '' && pieces[1].literal === '';
  const templated = templates.every((template) => template !== undefined);

  if (!options.expression && !whole && templated) {
    return { value: joinTemplate(pieces, templates), problems };
  }

  // JSONata keeps a lone reference's type and covers formulas that have no template form.
  const jsonataProblems: string[] = [];
  const expressions = nodes.map((node, index) =>
    node === undefined ? undefined : tryJsonata(node, resolve, pieces[index], jsonataProblems),
  );
  if (expressions.every((expression) => expression !== undefined)) {
    const expression = whole ? expressions[0] : concatenation(pieces, expressions);
    return { value: `=${expression}`, problems };
  }
  if (!options.expression && templated) return { value: joinTemplate(pieces, templates), problems };

  problems.push(...jsonataProblems);
  if (options.expression) return { value: undefined, problems };
  expressions.forEach((expression, index) => {
    if (expression !== undefined && templates[index] === undefined) {
      const reason = 'kept as written because another reference in this text has no equivalent';
      problems.push(`${pieces[index].written}: ${reason}`);
    }
  });
  return { value: joinTemplate(pieces, templates), problems };
}

function joinTemplate(pieces: Piece[], templates: (string | undefined)[]): string {
  let out = '';
  pieces.forEach((piece, index) => {
    out += literalText(piece.literal, true);
    if (index === pieces.length - 1) return;
    const template = templates[index];
    out += template === undefined ? keepWritten(piece) : `{{${template}}}`;
  });
  return out;
}

function parsePiece(piece: Piece, problems: string[]): FormulaNode | undefined {
  if (piece.unreadable !== undefined) {
    problems.push(`${piece.written}: ${piece.unreadable}`);
    return undefined;
  }
  try {
    return parseFormula(piece.formula ?? '');
  } catch (error) {
    if (!(error instanceof FormulaError)) throw error;
    problems.push(`${piece.written}: ${error.message}`);
    return undefined;
  }
}

function tryJsonata(
  node: FormulaNode,
  resolve: RootResolver,
  piece: Piece,
  problems: string[],
): string | undefined {
  try {
    return toJsonata(node, resolve);
  } catch (error) {
    if (!(error instanceof FormulaError)) throw error;
    problems.push(`${piece.written}: ${error.message}`);
    return undefined;
  }
}

/** Returns the template form, or undefined when the formula needs JSONata (or has no form). */
function tryTemplate(node: FormulaNode, resolve: RootResolver): string | undefined {
  try {
    return toTemplate(node, resolve);
  } catch (error) {
    if (!(error instanceof FormulaError)) throw error;
    return undefined;
  }
}

/** Builds `"text" & $string(expression) & ...`, so a formula inside text keeps its meaning. */
function concatenation(pieces: Piece[], expressions: (string | undefined)[]): string {
  const parts: string[] = [];
  pieces.forEach((piece, index) => {
    if (piece.literal !== '') parts.push(JSON.stringify(piece.literal));
    const expression = expressions[index];
    if (expression !== undefined) parts.push(`$string(${expression})`);
  });
  return parts.join(' & ');
}

/** Keeps an unconverted reference as plain text; Liquid braces are escaped for Handlebars. */
function keepWritten(piece: Piece): string {
  return literalText(piece.written ?? '', true);
}

/** Converts any option value, walking objects and arrays. */
export function convertValue(value: unknown, resolve: RootResolver): ConvertedValue {
  if (typeof value === 'string') return convertText(value, resolve);
  const problems: string[] = [];
  if (Array.isArray(value)) {
    const items = value.map((item) => {
      const converted = convertValue(item, resolve);
      problems.push(...converted.problems);
      return converted.value;
    });
    return { value: items, problems };
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([key, item]) => {
      const converted = convertValue(item, resolve);
      problems.push(...converted.problems);
      return [key, converted.value];
    });
    return { value: Object.fromEntries(entries), problems };
  }
  return { value, problems };
}
