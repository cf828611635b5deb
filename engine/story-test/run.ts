/**
 * Runs story test files offline. Each case starts one run from a webhook event on an
 * in-memory store. The HTTP transport returns the case's canned responses, so nothing reaches
 * the network, and a request from an action without a response fails the case.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import pino from 'pino';
import { loadStory } from '../loader';
import { formatProblem } from '../problems';
import { Runner, type HostedWebhook } from '../runner';
import { MemoryStore } from '../store/memory';
import type {
  EventRecord,
  HttpRequest,
  HttpRequestSource,
  HttpResponse,
  Json,
  LoadedStory,
  RunRecord,
} from '../types';
import { fieldName, YamlSource, type ValuePath } from '../yaml-source';
import { match, type Mismatch } from './match';
import { storyTestSchema } from './schema';

/** Maximum time a case may run before it fails as timed out. */
const CASE_TIMEOUT_MS = 10_000;

export interface CannedResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: Json;
}

export interface TestCase {
  name: string;
  webhook?: string;
  event: Json;
  headers?: Record<string, string>;
  responses?: Record<string, CannedResponse | CannedResponse[]>;
  expect: {
    status?: 'succeeded' | 'failed';
    ran?: string[];
    not_ran?: string[];
    failed?: string[];
    requests?: Record<string, Json>;
    events?: Record<string, Json>;
  };
}

interface TestFileContent {
  story?: string;
  env?: Record<string, string>;
  cases: TestCase[];
}

/** One failed check of a case, with the differing values when there are some. */
export interface CaseFailure {
  message: string;
  mismatches?: Mismatch[];
}

export interface CaseResult {
  name: string;
  durationMs: number;
  failures: CaseFailure[];
}

export interface FileResult {
  file: string;
  /** Problems that stopped the whole file: invalid test file, story that does not load. */
  problems: string[];
  cases: CaseResult[];
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
const validateTestFile = ajv.compile(storyTestSchema);

function pathOf(instancePath: string): ValuePath {
  return instancePath
    .split('/')
    .slice(1)
    .map((part) =>
      /^\d+$/.test(part) ? Number(part) : part.replace(/~1/g, '/').replace(/~0/g, '~'),
    );
}

/** Reads and validates a test file; problems read `file:line:col field: message`. */
function readTestFile(file: string): { content?: TestFileContent; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { problems: [`${file}: cannot read the test file: ${(error as Error).message}`] };
  }
  const source = new YamlSource(file, text);
  if (source.problems.length > 0) {
    return { problems: source.problems.map((problem) => formatProblem(problem, text)) };
  }
  if (validateTestFile(source.value)) {
    return { content: source.value as unknown as TestFileContent, problems: [] };
  }

  const problems = (validateTestFile.errors ?? [])
    .filter((error) => error.keyword !== 'anyOf' && error.keyword !== 'if')
    .map((error) => {
      const path = pathOf(error.instancePath);
      const extra =
        error.keyword === 'additionalProperties'
          ? ` "${String(error.params['additionalProperty'])}"`
          : '';
      const message = `${error.message ?? 'is invalid'}${extra}`;
      const problem = {
        code: 'invalid_test',
        message,
        field: fieldName(path) || '(file)',
        position: source.position(path),
      };
      return formatProblem(problem, text);
    });
  return { problems: [...new Set(problems)] };
}

/** Returns the story file under test: `story:`, or the file name without `.test`. */
function storyFileOf(file: string, content: TestFileContent): string {
  if (content.story !== undefined) return path.resolve(path.dirname(file), content.story);
  return file.replace(/\.test\.(ya?ml)$/i, '.$1');
}

/** Runs every case of one test file. */
export async function runTestFile(file: string): Promise<FileResult> {
  const { content, problems } = readTestFile(file);
  if (content === undefined) return { file, problems, cases: [] };

  const storyFile = storyFileOf(file, content);
  const loaded = loadStory(storyFile);
  if (loaded.story === undefined) {
    const details = loaded.problems.map((problem) => formatProblem(problem, loaded.source));
    return { file, problems: [`story ${storyFile} does not load:`, ...details], cases: [] };
  }

  const cases: CaseResult[] = [];
  for (const testCase of content.cases) {
    const started = Date.now();
    const failures = await runCase(loaded.story, testCase, content.env ?? {});
    cases.push({ name: testCase.name, durationMs: Date.now() - started, failures });
  }
  return { file, problems: [], cases };
}

/** A request as the story sent it, with the body parsed for comparison. */
interface SentRequest {
  action: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** Joins the query parameters to the URL, as the request goes out. */
function fullUrl(request: HttpRequest): string {
  if (request.query === undefined) return request.url;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(request.query)) {
    for (const item of Array.isArray(value) ? value : [value]) params.append(name, String(item));
  }
  const query = params.toString();
  if (query === '') return request.url;
  return `${request.url}${request.url.includes('?') ? '&' : '?'}${query}`;
}

function parsedBody(request: HttpRequest): unknown {
  if (request.body === undefined) return undefined;
  const text = request.body.toString();
  const type =
    Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1] ??
    '';
  if (/json/i.test(type)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (/x-www-form-urlencoded/i.test(type)) return Object.fromEntries(new URLSearchParams(text));
  return text;
}

function cannedResponse(response: CannedResponse): HttpResponse {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers ?? {}))
    headers[name.toLowerCase()] = value;
  const body = response.body;
  let buffer = Buffer.alloc(0);
  if (typeof body === 'string') {
    buffer = Buffer.from(body);
    headers['content-type'] ??= 'text/plain';
  } else if (body !== undefined) {
    buffer = Buffer.from(JSON.stringify(body));
    headers['content-type'] ??= 'application/json';
  }
  return { status: response.status ?? 200, headers, body: buffer };
}

/** Builds a transport that records requests and returns canned responses per action, in order. */
function cannedTransport(testCase: TestCase, sent: SentRequest[], unmatched: string[]) {
  const used = new Map<string, number>();
  return async (request: HttpRequest, source?: HttpRequestSource): Promise<HttpResponse> => {
    const action = source?.action ?? '(unknown action)';
    const url = fullUrl(request);
    sent.push({
      action,
      method: request.method,
      url,
      headers: request.headers,
      body: parsedBody(request),
    });
    const written = testCase.responses?.[action];
    const list = written === undefined ? [] : Array.isArray(written) ? written : [written];
    const index = used.get(action) ?? 0;
    used.set(action, index + 1);
    const response = list[index];
    if (response === undefined) {
      const count = list.length === 0 ? 'no response' : `only ${list.length} response(s)`;
      const message = `unexpected request from ${action}: ${request.method} ${url} (the case has ${count} for ${action})`;
      unmatched.push(message);
      return { status: 599, headers: {}, body: Buffer.from(message) };
    }
    return cannedResponse(response);
  };
}

function pickWebhook(runner: Runner, name: string | undefined): HostedWebhook | string {
  const names = runner.webhooks.map((webhook) => webhook.action.name);
  const found =
    name === undefined
      ? runner.webhooks
      : runner.webhooks.filter((webhook) => webhook.action.name === name);
  if (found.length === 1) return found[0] as HostedWebhook;
  if (found.length === 0)
    return `no webhook named "${name}"; the story has ${names.join(', ') || 'none'}`;
  return `the story has several webhooks (${names.join(', ')}); name one with "webhook:"`;
}

async function runCase(
  story: LoadedStory,
  testCase: TestCase,
  env: Record<string, string>,
): Promise<CaseFailure[]> {
  const store = new MemoryStore();
  const sent: SentRequest[] = [];
  const unmatched: string[] = [];
  let runner: Runner;
  try {
    runner = new Runner({
      stories: [story],
      store,
      logger: pino({ level: 'silent' }),
      env,
      http: cannedTransport(testCase, sent, unmatched),
      pollMs: 5,
      concurrency: 4,
    });
  } catch (error) {
    return [{ message: `the story cannot start: ${(error as Error).message}` }];
  }
  const webhook = pickWebhook(runner, testCase.webhook);
  if (typeof webhook === 'string') return [{ message: webhook }];

  runner.start();
  let run: RunRecord | undefined;
  try {
    const accepted = await runner.accept(webhook, {
      method: webhook.route.methods.includes('POST')
        ? 'POST'
        : (webhook.route.methods[0] ?? 'POST'),
      path: webhook.url,
      query: {},
      headers: { 'content-type': 'application/json', ...(testCase.headers ?? {}) },
      body: testCase.event,
      received_at: new Date().toISOString(),
    });
    run = await withTimeout(runner.waitForRun(accepted.id), CASE_TIMEOUT_MS);
  } finally {
    runner.abortNow();
    await runner.stop();
  }
  if (run === undefined)
    return [{ message: `the run did not finish within ${CASE_TIMEOUT_MS} ms` }];

  const events = await store.listEvents(run.id);
  const failures: CaseFailure[] = unmatched.map((message) => ({ message }));
  failures.push(...(await checkExpectations(testCase, run, events, sent)));
  return failures;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function checkExpectations(
  testCase: TestCase,
  run: RunRecord,
  events: EventRecord[],
  sent: SentRequest[],
): Promise<CaseFailure[]> {
  const expected = testCase.expect;
  const failures: CaseFailure[] = [];
  const emitted = new Set(
    events.filter((event) => event.status === 'emitted').map((event) => event.action),
  );
  const failed = new Set(
    events.filter((event) => event.status === 'failed').map((event) => event.action),
  );
  const trail = () => describeTrail(events);

  if (expected.status !== undefined && run.status !== expected.status) {
    const reason = run.error ? ` (${run.error})` : '';
    failures.push({ message: `run ${run.status}${reason}, expected ${expected.status}` });
  }
  for (const action of expected.ran ?? []) {
    if (!emitted.has(action)) failures.push({ message: `${action} did not run; ${trail()}` });
  }
  for (const action of expected.not_ran ?? []) {
    if (emitted.has(action))
      failures.push({ message: `${action} ran but should not have; ${trail()}` });
  }
  for (const action of expected.failed ?? []) {
    if (!failed.has(action)) failures.push({ message: `${action} did not fail; ${trail()}` });
  }

  for (const [action, written] of Object.entries(expected.requests ?? {})) {
    const wanted = Array.isArray(written) ? written : [written];
    const actual = sent.filter((request) => request.action === action);
    if (actual.length !== wanted.length) {
      failures.push({
        message: `${action} sent ${actual.length} request(s), expected ${wanted.length}`,
      });
      continue;
    }
    for (const [index, request] of wanted.entries()) {
      const where = wanted.length === 1 ? `requests.${action}` : `requests.${action}[${index}]`;
      const { headers, ...rest } = (request ?? {}) as Record<string, unknown>;
      const mismatches = await match(rest, actual[index], where);
      if (headers !== undefined) {
        mismatches.push(
          ...(await match(headers, actual[index]?.headers, `${where}.headers`, {
            caseInsensitiveKeys: true,
          })),
        );
      }
      if (mismatches.length > 0)
        failures.push({ message: `${action} sent a different request`, mismatches });
    }
  }

  for (const [action, payload] of Object.entries(expected.events ?? {})) {
    const event = events.find(
      (candidate) => candidate.action === action && candidate.status === 'emitted',
    );
    if (event === undefined) {
      failures.push({ message: `${action} emitted no event to compare; ${trail()}` });
      continue;
    }
    const mismatches = await match(payload, event.payload, `events.${action}`);
    if (mismatches.length > 0)
      failures.push({ message: `${action} emitted a different event`, mismatches });
  }
  return failures;
}

/** Summarizes what the run did: `calendar_webhook emitted, get_host failed: ...`. */
function describeTrail(events: EventRecord[]): string {
  const parts = events.map((event) => {
    if (event.status === 'failed') return `${event.action} failed (${event.error ?? 'no reason'})`;
    return `${event.action} ${event.status}`;
  });
  return `the run did: ${parts.join(', ') || 'nothing'}`;
}
