/**
 * Converts a Tines story export (JSON) into story YAML. Webhook, trigger, HTTP request and
 * event transform actions convert. Everything else is listed as a problem, both in a comment
 * block at the top of the YAML and in the returned list, and never dropped.
 */
import { Document } from 'yaml';
import { FormulaError } from './formula';
import type { RootResolver } from './print';
import { convertAgent } from './agents';
import type { ConvertedAction } from './conversion';

/** A Tines export that is not of the expected shape. */
export class TinesExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TinesExportError';
  }
}

export interface TinesAgent {
  type: string;
  name: string;
  guid?: string;
  description?: string | null;
  disabled?: boolean;
  options: Record<string, unknown>;
  [key: string]: unknown;
}

export interface TinesExport {
  name: string;
  description?: string | null;
  agents: TinesAgent[];
  links: { source: number | string; receiver: number | string }[];
}

/** Something the importer could not convert, or converted with a change the author must review. */
export interface ImportProblem {
  /** Story action name, absent for story-wide problems. */
  action?: string;
  /** Tines option or field, such as `options.basic_auth`. */
  field: string;
  message: string;
}

export interface TinesImport {
  yaml: string;
  /** The story as a plain object, before it was written as YAML. */
  story: Record<string, unknown>;
  problems: ImportProblem[];
  /** Environment variables the story reads, for credentials and resources. */
  environment: string[];
}

/** Lower-case snake_case, the way Tines names an action in its formulas. */
export function snakeCase(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[^\x00-\x7f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Validates the export's shape, naming the first field that is wrong. */
export function readTinesExport(data: unknown): TinesExport {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TinesExportError('Tines export must be a JSON object with "agents" and "links".');
  }
  const story = data as Record<string, unknown>;
  if (!Array.isArray(story.agents)) {
    throw new TinesExportError('Tines export has no "agents" array: export the story from Tines.');
  }
  story.agents.forEach((agent, index) => {
    const where = `agents[${index}]`;
    if (agent === null || typeof agent !== 'object') {
      throw new TinesExportError(`${where} must be an object, found ${JSON.stringify(agent)}.`);
    }
    const { type, name, options } = agent as Record<string, unknown>;
    if (typeof type !== 'string') throw new TinesExportError(`${where}.type must be a string.`);
    if (typeof name !== 'string') throw new TinesExportError(`${where}.name must be a string.`);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new TinesExportError(`${where}.options must be an object.`);
    }
  });
  if (story.links !== undefined && !Array.isArray(story.links)) {
    throw new TinesExportError('Tines export "links" must be an array of {source, receiver}.');
  }
  return {
    name:
      typeof story.name === 'string' && story.name.trim() !== '' ? story.name : 'Imported story',
    description: typeof story.description === 'string' ? story.description : undefined,
    agents: (story.agents as TinesAgent[]).map((agent) => ({
      ...agent,
      options: agent.options ?? {},
    })),
    links: (story.links as TinesExport['links'] | undefined) ?? [],
  };
}

/** Gives every agent a unique identifier-safe name. */
function assignNames(agents: TinesAgent[]): string[] {
  const used = new Set<string>();
  return agents.map((agent, index) => {
    let base = snakeCase(agent.name);
    if (base === '') base = `action_${index + 1}`;
    if (/^[0-9]/.test(base)) base = `action_${base}`;
    let name = base;
    for (let suffix = 2; used.has(name); suffix += 1) name = `${base}_${suffix}`;
    used.add(name);
    return name;
  });
}

/** Resolves each link end (an index into agents, or a guid) to an agent index. */
function linkParents(data: TinesExport): number[][] {
  const byGuid = new Map(data.agents.map((agent, index) => [agent.guid, index]));
  const parents = data.agents.map(() => [] as number[]);
  const resolveEnd = (end: unknown, where: string): number => {
    const index = typeof end === 'number' ? end : byGuid.get(String(end));
    if (
      index === undefined ||
      !Number.isInteger(index) ||
      index < 0 ||
      index >= data.agents.length
    ) {
      throw new TinesExportError(
        `${where} is ${JSON.stringify(end)}, which names no agent: use an index into "agents" or an agent guid.`,
      );
    }
    return index;
  };
  data.links.forEach((link, index) => {
    const source = resolveEnd(link?.source, `links[${index}].source`);
    const receiver = resolveEnd(link?.receiver, `links[${index}].receiver`);
    if (!parents[receiver].includes(source)) parents[receiver].push(source);
  });
  return parents;
}

/** Orders agents so each comes after its sources, keeping export order among equals. */
function topologicalOrder(parents: number[][]): number[] {
  const order: number[] = [];
  const placed = new Set<number>();
  while (order.length < parents.length) {
    const next = parents.findIndex(
      (sources, index) => !placed.has(index) && sources.every((source) => placed.has(source)),
    );
    // A cycle: place the rest in export order and let the loader report the cycle.
    const index = next === -1 ? parents.findIndex((_, candidate) => !placed.has(candidate)) : next;
    order.push(index);
    placed.add(index);
  }
  return order;
}

/** Environment variable for a credential or resource name: `fleet_api_token` → FLEET_API_TOKEN. */
function environmentName(name: string): string {
  return snakeCase(name).toUpperCase();
}

const REFERENCE_PATTERN =
  /\b(CREDENTIAL|RESOURCE)\.([A-Za-z0-9_]+)|\{%\s*(credential|global_resource)\s+([A-Za-z0-9_]+)\s*%\}/g;

/** Finds the credentials and resources the options refer to. */
function collectReferences(agents: TinesAgent[]): {
  credentials: Set<string>;
  resources: Set<string>;
} {
  const credentials = new Set<string>();
  const resources = new Set<string>();
  const text = JSON.stringify(agents.map((agent) => agent.options));
  for (const match of text.matchAll(REFERENCE_PATTERN)) {
    const kind = match[1] ?? (match[3] === 'credential' ? 'CREDENTIAL' : 'RESOURCE');
    const name = match[2] ?? match[4];
    (kind === 'CREDENTIAL' ? credentials : resources).add(name);
  }
  return { credentials, resources };
}

/** Converts a parsed Tines export into story YAML and the list of problems. */
export function importTinesStory(input: unknown): TinesImport {
  const data = readTinesExport(input);
  const names = assignNames(data.agents);
  const parents = linkParents(data);
  const problems: ImportProblem[] = [];

  const bySlug = new Map<string, string>();
  data.agents.forEach((agent, index) => {
    const slug = snakeCase(agent.name);
    if (bySlug.has(slug)) {
      problems.push({
        action: names[index],
        field: 'name',
        message:
          `Tines name "${agent.name}" is used twice, so references to ${slug} go to ` +
          `${bySlug.get(slug)}. Check the references meant for this action.`,
      });
    } else {
      bySlug.set(slug, names[index]);
    }
  });

  const resolve: RootResolver = (root) => {
    if (root === 'CREDENTIAL') return 'credentials';
    if (root === 'RESOURCE') return 'resources';
    const name = bySlug.get(root) ?? bySlug.get(snakeCase(root));
    if (name === undefined) throw new FormulaError(`"${root}" names no action of this story`);
    return name;
  };

  const actions: Record<string, unknown>[] = [];
  const comments = new Map<number, string[]>();
  const { credentials, resources } = collectReferences(data.agents);
  for (const index of topologicalOrder(parents)) {
    const agent = data.agents[index];
    const after = parents[index].map((source) => names[source]);
    const converted: ConvertedAction = convertAgent(agent, names[index], after, resolve);
    for (const problem of converted.problems) problems.push({ action: names[index], ...problem });
    if (converted.problems.length > 0) {
      comments.set(
        actions.length,
        converted.problems.map((problem) => ` TODO: ${problem.field}: ${problem.message}`),
      );
    }
    actions.push(converted.action);
    for (const credential of converted.credentials) credentials.add(credential);
  }

  const story: Record<string, unknown> = { name: data.name };
  if (data.description) story.description = data.description;
  const environment: string[] = [];
  if (credentials.size > 0) {
    story.credentials = Object.fromEntries(
      [...credentials].map((name) => [name, { env: environmentName(name) }]),
    );
    environment.push(...[...credentials].map(environmentName));
  }
  if (resources.size > 0) {
    story.resources = Object.fromEntries(
      [...resources].map((name) => [name, { env: environmentName(name) }]),
    );
    environment.push(...[...resources].map(environmentName));
  }
  story.actions = actions;

  const yaml = writeYaml(story, data.name, problems, environment, comments);
  return { yaml, story, problems, environment };
}

function writeYaml(
  story: Record<string, unknown>,
  tinesName: string,
  problems: ImportProblem[],
  environment: string[],
  comments: Map<number, string[]>,
): string {
  const doc = new Document(story);
  const header = [` Imported from the Tines story "${tinesName}" by \`engine import\`.`];
  if (environment.length > 0) {
    header.push('', ' Set these environment variables before running it:');
    header.push(...environment.map((name) => `   ${name}`));
  }
  if (problems.length > 0) {
    header.push('', ` Not converted or to review (${problems.length}), also marked TODO below:`);
    for (const problem of problems) {
      const where =
        problem.action === undefined ? problem.field : `${problem.action}.${problem.field}`;
      header.push(...`   ${where}: ${problem.message}`.split('\n'));
    }
  } else {
    header.push('', ' Every action and option was converted.');
  }
  doc.commentBefore = header.join('\n');

  for (const [index, lines] of comments) {
    const node = doc.getIn(['actions', index], true) as { commentBefore?: string } | undefined;
    if (node !== undefined) node.commentBefore = lines.join('\n');
  }
  return doc.toString({ lineWidth: 0, blockQuote: 'literal' });
}
