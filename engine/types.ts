/**
 * Shared types of the engine: the loaded story model, the action-type interface and the
 * records that runs leave behind. Action modules and stores depend on this file only.
 */
import type { Logger } from 'pino';
import type { ActionRetry } from './retry';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** 1-based line and column inside a story file. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

/** One problem found while loading a story; `field` is a path such as `actions[3].method`. */
export interface LoadProblem {
  code: string;
  message: string;
  field: string;
  position?: SourcePosition;
}

/** A story value compiled once at load time and evaluated per event. */
export interface CompiledValue {
  /** True when the value contains no expression or template, so evaluation is a constant. */
  readonly constant: boolean;
  evaluate(context: EvalContext): Promise<unknown>;
}

/**
 * Context of expressions and templates: every upstream action's event under that action's
 * name, plus `credentials`, `resources` and `meta`.
 */
export interface EvalContext {
  [name: string]: unknown;
  credentials: Record<string, string>;
  resources: Record<string, Json>;
  meta: RunMeta;
}

export interface RunMeta {
  story: string;
  run_id: string;
  event_id: string | null;
  action: string;
  time: string;
}

/** An action as written in the story, after validation. */
export interface ActionSpec {
  name: string;
  type: string;
  after: string[];
  description?: string;
  /** The action's own fields as written (everything but name, type, after, description). */
  options: Record<string, unknown>;
  position: SourcePosition;
  /** Source positions of the action's own fields, by field name. */
  fieldPositions: Record<string, SourcePosition>;
}

/** Route that the HTTP server hosts for an entry-point action (the webhook). */
export interface WebhookRoute {
  /** Path below the story path, without leading slash: `calendar`. */
  path: string;
  /** Upper-case HTTP methods accepted. */
  methods: string[];
  /** Largest accepted request body in bytes. */
  maxBodyBytes: number;
  /** Status of the acknowledgement sent once the event is stored. */
  status: number;
  /** Authentication the webhook requires; absent means none. */
  auth?: WebhookAuthSpec;
}

/**
 * Webhook authentication as written in the story. Secrets are named by credential, never
 * written in the story, and resolved from the environment at start-up.
 */
export interface WebhookAuthSpec {
  /** Shared secret: in `header`, or as the last path segment when no header is named. */
  secret?: { credential: string; header?: string };
  /** HMAC signature of the raw body, optionally over `<timestamp>.<body>`. */
  signature?: {
    credential: string;
    header: string;
    algorithm?: string;
    prefix?: string;
    encoding?: 'hex' | 'base64';
    timestampHeader?: string;
    toleranceSeconds?: number;
  };
}

/** The incoming HTTP request as the webhook action emits it. */
export interface WebhookRequest {
  method: string;
  path: string;
  query: Record<string, Json>;
  headers: Record<string, string>;
  body: Json;
  received_at: string;
}

/** An outgoing HTTP request as actions build it; the transport sends it. */
export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  query?: Record<string, string | number | boolean | (string | number | boolean)[]>;
  body?: string | Buffer;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Lets the request reach private and loopback addresses (the story's allow_private_networks). */
  allowPrivateNetworks?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Origin of a request: the story, action and run. Story tests pick canned responses by action. */
export interface HttpRequestSource {
  story: string;
  action: string;
  runId: string;
}

/**
 * Sends HTTP requests for actions. The engine's default (http.ts) uses a keep-alive undici agent;
 * story tests replace it with canned responses.
 */
export type HttpTransport = (
  request: HttpRequest,
  source?: HttpRequestSource,
) => Promise<HttpResponse>;

/** Persistent key-value state of one action, shared by its runs (a deduplicate's seen keys). */
export interface ActionState {
  /**
   * Replaces the value under `key` atomically: `change` runs synchronously with the current
   * value and returns the new one (undefined deletes it) and how long to keep it.
   */
  update(key: string, change: (current: Json | undefined) => StateChange): Promise<void>;
}

export interface StateChange {
  value: Json | undefined;
  /** Milliseconds until the value expires; kept until replaced when absent. */
  ttlMs?: number;
}

export interface ActionInput {
  story: LoadedStory;
  action: LoadedAction;
  /** Payload of the event that reached this action (for the webhook: the request). */
  event: Json;
  context: EvalContext;
  /** Evaluates one field, compiled at load, against this event's context. */
  field<T = unknown>(name: string): Promise<T>;
  signal: AbortSignal;
  log: Logger;
  /** Number of this attempt, 1 for the first. */
  attempt: number;
  http: HttpTransport;
  state: ActionState;
  /** Set when this execution is a timer the action scheduled earlier; `event` is then null. */
  timer?: Json;
}

export interface ActionResult {
  /** Events passed downstream; an empty list ends this branch (a trigger that did not match). */
  emit: Json[];
  /** Short human-readable summary for trails, such as `200 GET http://host/x`. */
  summary?: string;
  /** Milliseconds before the emitted events reach the next actions (delay, throttle). */
  delayMs?: number;
  /**
   * Runs this action again after `afterMs` with `timer` set to `value` (implode's timeout).
   * `id`, when given, names the timer so that a later result can cancel it.
   */
  timer?: { afterMs: number; value: Json; id?: string };
  /** Timers, by id, that no longer need to fire. Timers already running are not stopped. */
  cancelTimers?: string[];
}

/** Failure of one action for one event; fields carry the data so the runner never parses text. */
export class ActionError extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly data: Json | undefined;

  constructor(
    message: string,
    options: { retryable?: boolean; retryAfterMs?: number; data?: Json; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ActionError';
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.data = options.data;
  }
}

/** JSON Schema fragment of one action type: its own fields. */
export interface ActionSchema {
  description: string;
  properties: Record<string, Record<string, unknown>>;
  required?: string[];
  /** Conditional requirements, such as the fields each transform mode needs. */
  allOf?: Record<string, unknown>[];
}

/** One action type. Adding a type means one module in actions/ and one line in its registry. */
export interface ActionType {
  readonly type: string;
  readonly schema: ActionSchema;
  /** Fields whose strings are JSONata expressions without a leading `=` (a trigger's `when`). */
  readonly expressionFields?: readonly string[];
  /** Fields kept as written, never evaluated (settings such as `retry` or `rules`). */
  readonly literalFields?: readonly string[];
  /** True when running the action has effects outside the engine (an HTTP call). */
  readonly sideEffects?: boolean;
  /**
   * True when the action may run in the same step as the action before it, because it has
   * no effect outside the engine and keeps no state, so running it again after a crash
   * gives the same events.
   */
  inline?(action: ActionSpec): boolean;
  /** Retry settings, for types that retry a failed attempt (http_request). */
  retry?(action: ActionSpec): ActionRetry;
  /** Checks beyond the schema, run at load time. */
  check?(action: ActionSpec): LoadProblem[];
  /** Entry points only: the route this action hosts. */
  webhookRoute?(action: ActionSpec): WebhookRoute;
  run(input: ActionInput): Promise<ActionResult>;
}

export interface LoadedAction extends ActionSpec {
  kind: ActionType;
  /** Compiled values of the fields that are evaluated, by field name. */
  compiled: Record<string, CompiledValue>;
  /** Names of the actions that run after this one. */
  children: string[];
  /** Names of every action upstream of this one. */
  ancestors: Set<string>;
}

export interface CredentialSpec {
  env: string;
}

export interface ResourceSpec {
  env?: string;
  default?: Json;
  value?: Json;
}

export interface LoadedStory {
  file: string;
  name: string;
  description?: string;
  /** URL segment: webhooks live under /webhook/<path>/... */
  path: string;
  credentials: Record<string, CredentialSpec>;
  resources: Record<string, ResourceSpec>;
  /** True when HTTP actions may reach private and loopback addresses. */
  allowPrivateNetworks?: boolean;
  /** Actions in file order. */
  actions: LoadedAction[];
  byName: Map<string, LoadedAction>;
}

export type RunStatus = 'running' | 'succeeded' | 'failed';

/** `emitted`: passed an event on; `skipped`: ran and emitted nothing; `failed`: threw. */
export type EventStatus = 'emitted' | 'skipped' | 'failed';

export interface RunRecord {
  id: string;
  story: string;
  storyName: string;
  status: RunStatus;
  createdAt: number;
  finishedAt: number | null;
  error: string | null;
}

export interface EventRecord {
  id: string;
  runId: string;
  action: string;
  parentId: string | null;
  status: EventStatus;
  /** Emitted payload with credentials redacted; null when skipped or failed. */
  payload: Json;
  error: string | null;
  summary: string | null;
  attempt: number;
  startedAt: number;
  finishedAt: number;
}
