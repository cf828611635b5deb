/**
 * Loads stories: parses YAML with positions, validates against the schema, checks references
 * between actions and compiles every expression and template once. All problems of a story
 * are reported together.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { actionType } from '../actions';
import {
  compileExpressionField,
  compileValue,
  CONTEXT_ROOTS,
  type RootCheck,
  type ValueProblem,
} from './expressions';
import { StoryLoadError } from './problems';
import { COMMON_ACTION_FIELDS, STORY_PATH_PATTERN } from './schema';
import { didYouMean } from './suggest';
import type {
  ActionSpec,
  CompiledValue,
  CredentialSpec,
  LoadedAction,
  LoadedStory,
  LoadProblem,
  ResourceSpec,
  SourcePosition,
} from './types';
import { schemaProblems } from './validate-schema';
import { fieldName, MAX_STORY_BYTES, YamlSource, type ValuePath } from './yaml-source';

export interface LoadResult {
  story?: LoadedStory;
  problems: LoadProblem[];
  /** Source text, for showing the offending line under each problem. */
  source?: string;
}

interface RawAction {
  name: string;
  type: string;
  after?: string | string[];
  description?: string;
  [field: string]: unknown;
}

interface RawStory {
  name?: string;
  description?: string;
  path?: string;
  credentials?: Record<string, CredentialSpec>;
  resources?: Record<string, unknown>;
  allow_private_networks?: boolean;
  actions: RawAction[];
}

function readStory(file: string): { text?: string; problem?: LoadProblem } {
  const position = { file, line: 1, col: 1 };
  try {
    const size = statSync(file).size;
    if (size > MAX_STORY_BYTES) {
      const message = `story is ${size} bytes; the limit is ${MAX_STORY_BYTES} bytes`;
      return { problem: { code: 'too_large', message, field: '', position } };
    }
    return { text: readFileSync(file, 'utf8') };
  } catch (error) {
    const message = `cannot read story: ${(error as Error).message}`;
    return { problem: { code: 'unreadable', message, field: '', position } };
  }
}

function toSpecs(raw: RawStory, source: YamlSource): ActionSpec[] {
  return raw.actions.map((action, index) => {
    const options: Record<string, unknown> = {};
    const fieldPositions: Record<string, SourcePosition> = {};
    for (const [key, value] of Object.entries(action)) {
      fieldPositions[key] = source.position(['actions', index, key]);
      if (!(COMMON_ACTION_FIELDS as readonly string[]).includes(key)) options[key] = value;
    }
    const after = action.after === undefined ? [] : ([] as string[]).concat(action.after);
    return {
      name: action.name,
      type: action.type,
      after,
      description: action.description,
      options,
      position: source.position(['actions', index]),
      fieldPositions,
    };
  });
}

/**
 * Specs of the actions that have a string name, for reference checks on a story that failed
 * schema validation.
 */
function lenientSpecs(source: YamlSource): ActionSpec[] {
  const actions = (source.value as { actions?: unknown }).actions;
  if (!Array.isArray(actions)) return [];
  const valid = actions.every(
    (action) => action !== null && typeof action === 'object' && typeof action.name === 'string',
  );
  if (!valid) return [];
  const written = actions as RawAction[];
  return toSpecs({ actions: written.map((action) => ({ ...action, after: stringsOf(action.after) })) }, source);
}

function stringsOf(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return undefined;
}

function sortProblems(problems: LoadProblem[]): LoadProblem[] {
  const key = (problem: LoadProblem) => (problem.position?.line ?? 0) * 10_000 + (problem.position?.col ?? 0);
  return problems.map((problem, order) => ({ problem, order }))
    .sort((a, b) => key(a.problem) - key(b.problem) || a.order - b.order)
    .map(({ problem }) => problem);
}

/**
 * Checks names, `after:` references and cycles. With `typesKnown` false (the schema failed)
 * the checks that depend on action types are left out.
 */
function referenceProblems(specs: ActionSpec[], source: YamlSource, typesKnown = true): LoadProblem[] {
  const problems: LoadProblem[] = [];
  const first = new Map<string, number>();
  specs.forEach((spec, index) => {
    const earlier = first.get(spec.name);
    if (earlier !== undefined) {
      const where = specs[earlier]?.position;
      problems.push({
        code: 'duplicate_name',
        message: `duplicate action name "${spec.name}"; first defined at line ${where?.line}:${where?.col}`,
        field: `actions[${index}].name`,
        position: source.position(['actions', index, 'name']),
      });
    } else {
      first.set(spec.name, index);
    }
  });

  specs.forEach((spec, index) => {
    const kind = typesKnown ? actionType(spec.type) : undefined;
    const entry = kind?.webhookRoute !== undefined;
    if (kind && entry && spec.after.length > 0) {
      problems.push({
        code: 'entry_after',
        message: `a ${spec.type} action starts runs and cannot run after other actions; remove "after"`,
        field: `actions[${index}].after`,
        position: source.position(['actions', index, 'after']),
      });
    }
    if (kind && !entry && spec.after.length === 0) {
      problems.push({
        code: 'missing_after',
        message: `missing "after": name the action whose events "${spec.name}" receives`,
        field: `actions[${index}]`,
        position: spec.position,
      });
    }
    spec.after.forEach((parent, parentIndex) => {
      if (first.has(parent)) return;
      const field = Array.isArray(source.node(['actions', index, 'after'])?.toJSON())
        ? ['actions', index, 'after', parentIndex]
        : ['actions', index, 'after'];
      problems.push({
        code: 'unknown_after',
        message: `no action named "${parent}"${didYouMean(parent, first.keys())}`,
        field: fieldName(field),
        position: source.position(field),
      });
    });
  });

  const cycle = findCycle(specs);
  if (cycle) {
    const index = specs.findIndex((spec) => spec.name === cycle[0]);
    problems.push({
      code: 'cycle',
      message: `actions form a cycle: ${cycle.join(' -> ')}; a story must be acyclic`,
      field: `actions[${index}].after`,
      position: source.position(['actions', index, 'after']),
    });
  }
  return problems;
}

/** Returns one cycle as a list of names (first name repeated at the end), if any. */
function findCycle(specs: ActionSpec[]): string[] | undefined {
  const parents = new Map(specs.map((spec) => [spec.name, spec.after]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const parent of parents.get(name) ?? []) {
      if (!parents.has(parent)) continue;
      const found = visit(parent);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const spec of specs) {
    const found = visit(spec.name);
    if (found) return found.reverse();
  }
  return undefined;
}

function ancestorsOf(name: string, specs: Map<string, ActionSpec>): Set<string> {
  const result = new Set<string>();
  const pending = [...(specs.get(name)?.after ?? [])];
  while (pending.length > 0) {
    const parent = pending.pop() as string;
    if (result.has(parent) || !specs.has(parent)) continue;
    result.add(parent);
    pending.push(...(specs.get(parent)?.after ?? []));
  }
  return result;
}

function rootCheck(action: string, ancestors: Set<string>): RootCheck {
  return (name) => {
    if (ancestors.has(name) || (CONTEXT_ROOTS as readonly string[]).includes(name)) return undefined;
    const known = [...ancestors, ...CONTEXT_ROOTS];
    const hint = name === action ? '; an action cannot read its own event' : didYouMean(name, known);
    const stop = hint.endsWith('?') ? '' : '.';
    return `unknown name "${name}"${hint}${stop} Available here: ${known.join(', ')}`;
  };
}

/** Compiles the evaluated fields of each action, collecting problems with positions. */
function compileActions(
  specs: ActionSpec[],
  source: YamlSource,
  problems: LoadProblem[],
): LoadedAction[] {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  return specs.map((spec, index) => {
    const kind = actionType(spec.type);
    if (!kind) throw new Error(`unknown action type ${spec.type} after validation`);
    const ancestors = ancestorsOf(spec.name, byName);
    const check = rootCheck(spec.name, ancestors);
    const compiled: Record<string, CompiledValue> = {};
    for (const [field, raw] of Object.entries(spec.options)) {
      if (kind.literalFields?.includes(field)) continue;
      const found: ValueProblem[] = [];
      const isExpression = kind.expressionFields?.includes(field) ?? false;
      compiled[field] = isExpression
        ? compileExpressionField(raw, check, found)
        : compileValue(raw, check, found);
      for (const { path: inner, error } of found) {
        const valuePath = ['actions', index, field, ...inner];
        const prefix = !isExpression && typeof raw === 'string' ? 1 : 0;
        problems.push({
          code: 'expression',
          message: `in action "${spec.name}": ${error.message}`,
          field: fieldName(valuePath),
          position: source.positionInScalar(valuePath, error.offset, prefix),
        });
      }
    }
    for (const problem of kind.check?.(spec) ?? []) {
      const valuePath: ValuePath = ['actions', index, ...parseField(problem.field)];
      problems.push({ ...problem, field: fieldName(valuePath), position: source.position(valuePath) });
    }
    return { ...spec, kind, compiled, children: [], ancestors };
  });
}

/** Splits a field such as `rules[1].path` into the value path `['rules', 1, 'path']`. */
function parseField(field: string): ValuePath {
  const path: ValuePath = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) path.push(Number(match[2]));
    else if (match[1] !== undefined) path.push(match[1]);
  }
  return path;
}

function normaliseResources(raw: Record<string, unknown> | undefined): Record<string, ResourceSpec> {
  const resources: Record<string, ResourceSpec> = {};
  for (const [name, value] of Object.entries(raw ?? {})) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      resources[name] = value as ResourceSpec;
    } else {
      resources[name] = { value: value as ResourceSpec['value'] };
    }
  }
  return resources;
}

/** Loads one story file. Never throws for bad input: problems come back in the result. */
export function loadStory(file: string): LoadResult {
  const { text, problem } = readStory(file);
  if (text === undefined) return { problems: problem ? [problem] : [] };
  const source = new YamlSource(file, text);
  if (source.problems.length > 0) return { problems: source.problems, source: text };
  if (source.value === null || typeof source.value !== 'object' || Array.isArray(source.value)) {
    const message = 'a story must be a mapping with at least an "actions" list';
    return {
      problems: [{ code: 'not_a_story', message, field: '', position: source.position([]) }],
      source: text,
    };
  }

  const problems = schemaProblems(source);
  if (problems.length > 0) {
    // References are still checked, so one validate run shows every kind of mistake.
    const specs = lenientSpecs(source);
    problems.push(...referenceProblems(specs, source, false));
    return { problems: sortProblems(problems), source: text };
  }

  const raw = source.value as RawStory;
  const storyPath = raw.path ?? path.basename(file).replace(/\.ya?ml$/i, '');
  if (!new RegExp(STORY_PATH_PATTERN).test(storyPath)) {
    problems.push({
      code: 'invalid_path',
      message: `the file name gives the story path "${storyPath}", which is not a valid URL segment; add "path:"`,
      field: 'path',
      position: source.at(0),
    });
  }
  const specs = toSpecs(raw, source);
  problems.push(...referenceProblems(specs, source));
  const actions = compileActions(specs, source, problems);
  const byName = new Map(actions.map((action) => [action.name, action]));
  for (const action of actions) {
    for (const parent of action.after) byName.get(parent)?.children.push(action.name);
  }
  const story: LoadedStory = {
    file,
    name: raw.name ?? storyPath,
    description: raw.description,
    path: storyPath,
    credentials: raw.credentials ?? {},
    resources: normaliseResources(raw.resources),
    allowPrivateNetworks: raw.allow_private_networks === true,
    actions,
    byName,
  };
  return problems.length > 0 ? { problems, source: text } : { story, problems, source: text };
}

/** Expands folders into their story files (*.yaml, *.yml, but not *.test.yaml). */
export function storyFiles(paths: string[]): string[] {
  const files: string[] = [];
  for (const given of paths) {
    let isFolder = false;
    try {
      isFolder = statSync(given).isDirectory();
    } catch {
      isFolder = false;
    }
    if (!isFolder) {
      files.push(given);
      continue;
    }
    for (const entry of readdirSync(given).sort()) {
      if (/\.ya?ml$/i.test(entry) && !/\.test\.ya?ml$/i.test(entry)) files.push(path.join(given, entry));
    }
  }
  return files;
}

export interface LoadAllResult {
  stories: LoadedStory[];
  problems: LoadProblem[];
  sources: Map<string, string>;
}

/** Loads several stories and checks that no two of them serve the same webhook URL. */
export function loadStories(paths: string[]): LoadAllResult {
  const stories: LoadedStory[] = [];
  const problems: LoadProblem[] = [];
  const sources = new Map<string, string>();
  const files = storyFiles(paths);
  if (files.length === 0) {
    const message = `no story files (*.yaml or *.yml) found in ${paths.join(', ')}`;
    problems.push({ code: 'no_stories', message, field: '' });
  }
  const routes = new Map<string, SourcePosition>();
  for (const file of files) {
    const result = loadStory(file);
    if (result.source !== undefined) sources.set(file, result.source);
    problems.push(...result.problems);
    if (!result.story) continue;
    stories.push(result.story);
    for (const action of result.story.actions) {
      const route = action.kind.webhookRoute?.(action);
      if (!route) continue;
      const url = `/webhook/${result.story.path}/${route.path}`;
      const previous = routes.get(url);
      if (previous) {
        problems.push({
          code: 'duplicate_route',
          message: `webhook ${url} is also defined at ${previous.file}:${previous.line}:${previous.col}`,
          field: `${action.name}.path`,
          position: action.fieldPositions['path'] ?? action.position,
        });
      } else {
        routes.set(url, action.fieldPositions['path'] ?? action.position);
      }
    }
  }
  return { stories, problems, sources };
}

/** Loads stories or throws StoryLoadError with every problem. */
export function loadStoriesOrThrow(paths: string[]): LoadedStory[] {
  const result = loadStories(paths);
  if (result.problems.length > 0) throw new StoryLoadError(result.problems);
  return result.stories;
}
