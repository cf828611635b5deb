/**
 * Renders a story's action graph as Mermaid (`flowchart TD`) or Graphviz DOT text, so an
 * author can see the flow before running it. Actions are nodes with name and type, `after:`
 * links are edges, triggers show their condition, and the error branch is drawn in red.
 */
import type { ActionSpec } from './types';

export type GraphFormat = 'mermaid' | 'dot';

export const GRAPH_FORMATS: readonly GraphFormat[] = ['mermaid', 'dot'];

/** The parts of a story the graph needs; a LoadedStory fits. */
export interface GraphStory {
  name: string;
  actions: readonly GraphAction[];
}

export type GraphAction = Pick<ActionSpec, 'name' | 'type' | 'after' | 'options'>;

/** Maximum length of a trigger's condition text; longer text is cut with an ellipsis. */
const MAX_CONDITION_CHARS = 240;

/** Width at which a condition is wrapped onto the next label line. */
const WRAP_COLUMN = 48;

interface GraphNode {
  id: string;
  action: GraphAction;
  /** Label lines, unescaped. */
  lines: string[];
  /** A trigger whose condition tests `error`: the start of an error branch. */
  errorBranch: boolean;
}

interface GraphEdge {
  from: string;
  to: string;
  /** Drawn as the failure path of an action with `emit_failure: true`. */
  failure: boolean;
}

interface GraphModel {
  title: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** Renders the story in the given format; the text ends with a newline. */
export function renderGraph(story: GraphStory, format: GraphFormat): string {
  const model = buildModel(story);
  switch (format) {
    case 'mermaid':
      return renderMermaid(model);
    case 'dot':
      return renderDot(model);
    default:
      throw new Error(
        `Unknown graph format "${String(format)}": use one of ${GRAPH_FORMATS.join(', ')}.`,
      );
  }
}

function buildModel(story: GraphStory): GraphModel {
  const ids = new Map<string, string>();
  story.actions.forEach((action, index) => ids.set(action.name, nodeId(action.name, index)));

  const nodes = story.actions.map((action) => {
    const condition = describeCondition(action.options);
    const mode = action.options.mode;
    const kind =
      typeof mode === 'string' && mode !== 'message' ? `${action.type} (${mode})` : action.type;
    const lines = [action.name, kind];
    if (condition !== undefined) lines.push(...wrap(shorten(condition), WRAP_COLUMN));
    if (action.options.emit_failure === true) lines.push('emits failures');
    return {
      id: ids.get(action.name) as string,
      action,
      lines,
      errorBranch: condition !== undefined && testsError(action.options),
    };
  });

  const byName = new Map(nodes.map((node) => [node.action.name, node]));
  const edges: GraphEdge[] = [];
  for (const node of nodes) {
    for (const parentName of node.action.after) {
      const parent = byName.get(parentName);
      // A dangling `after:` is the loader's error to report; the graph leaves the edge out.
      if (parent === undefined) continue;
      edges.push({
        from: parent.id,
        to: node.id,
        failure: parent.action.options.emit_failure === true && node.errorBranch,
      });
    }
  }
  return { title: story.name, nodes, edges };
}

/** Mermaid and DOT both accept `[A-Za-z0-9_]` ids; anything else falls back to the index. */
function nodeId(name: string, index: number): string {
  return /^[A-Za-z0-9_]+$/.test(name) ? `a_${name}` : `a${index}`;
}

/**
 * Describes a trigger's condition: the `when:` text, or a summary of its `rules:`.
 * Returns undefined for an action that has neither.
 */
export function describeCondition(options: Record<string, unknown>): string | undefined {
  if (typeof options.when === 'string') return `when: ${options.when.trim()}`;
  if (!Array.isArray(options.rules)) return undefined;

  const rules = options.rules.map(describeRule);
  const match = typeof options.match === 'string' ? options.match : 'all';
  const joiner = match === 'any' ? ' or ' : ' and ';
  return `rules (${match}): ${rules.join(joiner)}`;
}

function describeRule(rule: unknown): string {
  if (rule === null || typeof rule !== 'object') return JSON.stringify(rule) ?? String(rule);
  const { path, type, value } = rule as Record<string, unknown>;
  const parts = [String(path ?? '?'), ruleOperator(String(type ?? '?'))];
  if (value !== undefined) parts.push(JSON.stringify(value));
  return parts.join(' ');
}

/** Turns Tines-style `field<=value` into `<=`; other types (`regex`, `is present`) stay. */
function ruleOperator(type: string): string {
  const comparison = /^field(.+)value$/.exec(type);
  return comparison === null ? type : comparison[1];
}

/** True when the condition reads a field named `error`, the mark of an error branch. */
export function testsError(options: Record<string, unknown>): boolean {
  const mentionsError = (text: unknown) => typeof text === 'string' && /\berror\b/.test(text);
  if (mentionsError(options.when)) return true;
  if (!Array.isArray(options.rules)) return false;
  return options.rules.some(
    (rule) => rule !== null && typeof rule === 'object' && mentionsError(rule.path),
  );
}

function shorten(text: string): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= MAX_CONDITION_CHARS ? flat : `${flat.slice(0, MAX_CONDITION_CHARS - 1)}…`;
}

/**
 * Wraps at spaces. A word never breaks, and a short line such as `when:` keeps the next
 * word even when that overflows the column.
 */
function wrap(text: string, column: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const overflows = line.length + 1 + word.length > column;
    if (line.length >= column / 4 && overflows) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

// ---- Mermaid ----

const MERMAID_SHAPES: Record<string, [string, string]> = {
  webhook: ['(["', '"])'],
  trigger: ['{{"', '"}}'],
  http_request: ['["', '"]'],
  transform: ['("', '")'],
};

function renderMermaid(model: GraphModel): string {
  const out = ['---', `title: ${JSON.stringify(model.title)}`, '---', 'flowchart TD'];

  for (const node of model.nodes) {
    const [open, close] = MERMAID_SHAPES[node.action.type] ?? ['["', '"]'];
    const label = node.lines.map(escapeMermaid).join('<br/>');
    out.push(`  ${node.id}${open}${label}${close}`);
  }
  for (const edge of model.edges) {
    out.push(`  ${edge.from} ${mermaidArrow(edge, model)} ${edge.to}`);
  }

  const errorIds = model.nodes.filter((node) => node.errorBranch).map((node) => node.id);
  if (errorIds.length > 0) {
    out.push('  classDef errorBranch stroke:#c62828,stroke-width:2px,color:#c62828');
    out.push(`  class ${errorIds.join(',')} errorBranch`);
  }
  return `${out.join('\n')}\n`;
}

function mermaidArrow(edge: GraphEdge, model: GraphModel): string {
  if (edge.failure) return '-.->|on failure|';
  const target = model.nodes.find((node) => node.id === edge.to);
  return target?.errorBranch ? '-.->' : '-->';
}

/**
 * Escapes text for a quoted Mermaid label. Mermaid reads `#name;` and `#code;` as entities
 * and renders labels as HTML, so `#`, the quote that ends the label, the markup characters
 * and the backtick that starts a Markdown label become decimal entity codes.
 */
export function escapeMermaid(text: string): string {
  return text.replace(/["#&<>`]|[\u0000-\u001f\u007f]/g, (char) => {
    const code = char.codePointAt(0) as number;
    return code < 0x20 || code === 0x7f ? ' ' : `#${code};`;
  });
}

// ---- DOT ----

const DOT_SHAPES: Record<string, string> = {
  webhook: 'shape=oval',
  trigger: 'shape=hexagon',
  http_request: 'shape=box',
  transform: 'shape=box, style=rounded',
};

const DOT_ERROR_STYLE = 'color="#c62828", fontcolor="#c62828", penwidth=2';

function renderDot(model: GraphModel): string {
  const out = [
    'digraph story {',
    `  label=${quoteDot(model.title)};`,
    '  labelloc=t;',
    '  fontname="Helvetica";',
    '  rankdir=TB;',
    '  node [shape=box, fontname="Helvetica"];',
    '  edge [fontname="Helvetica"];',
  ];

  for (const node of model.nodes) {
    const attributes = [`label=${quoteDot(node.lines.join('\n'))}`];
    attributes.push(DOT_SHAPES[node.action.type] ?? 'shape=box');
    if (node.errorBranch) attributes.push(DOT_ERROR_STYLE);
    out.push(`  ${node.id} [${attributes.join(', ')}];`);
  }
  for (const edge of model.edges) {
    const target = model.nodes.find((node) => node.id === edge.to);
    const attributes: string[] = [];
    if (edge.failure) attributes.push('label="on failure"');
    if (edge.failure || target?.errorBranch) attributes.push('style=dashed', DOT_ERROR_STYLE);
    const suffix = attributes.length > 0 ? ` [${attributes.join(', ')}]` : '';
    out.push(`  ${edge.from} -> ${edge.to}${suffix};`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

/**
 * Quotes a DOT string. Backslash starts DOT's own escapes (`\n`, `\l`, `\N`), so a literal
 * one is doubled; line breaks become `\n`, which Graphviz draws as centred lines.
 */
export function quoteDot(text: string): string {
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\r?\n/g, '\\n')
    .replace(/[\u0000-\u001f\u007f]/g, ' ');
  return `"${escaped}"`;
}
