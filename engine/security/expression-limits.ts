/**
 * Time and depth limits for JSONata evaluation.
 *
 * JSONata 2.x evaluates asynchronously and, before and after each step, calls the functions
 * bound under `Symbol.for('jsonata.__evaluate_entry')` and `Symbol.for('jsonata.__evaluate_exit')`
 * in the expression's environment (checked in jsonata 2.2.2, `evaluate()` in jsonata.js). The
 * entry hook counts nesting and checks the deadline; throwing there aborts the evaluation.
 *
 * The hooks sit on the compiled expression, which concurrent evaluations share, so the
 * per-evaluation state travels in a binding whose name no JSONata expression can spell (it
 * contains a space), looked up through the environment the hooks receive.
 *
 * NOTE: the checks run between steps. One built-in call that is slow by itself, such as a `$sort`
 * of a huge array or a regular expression that backtracks, is not interrupted. The limit fires
 * at the next step. Evaluation also holds the event loop while it runs, because its awaits settle as
 * microtasks, so `timeoutMs` is also the longest pause other requests can see.
 */
import jsonata, { type Expression } from 'jsonata';

export const DEFAULT_EXPRESSION_LIMITS = { timeoutMs: 1000, maxDepth: 1000 } as const;

export interface ExpressionLimits {
  /** Maximum evaluation time in milliseconds. */
  timeoutMs?: number;
  /** Deepest nesting of evaluation steps; each level of a recursive function adds about three. */
  maxDepth?: number;
  /** Aborts the evaluation at the next step, such as when the run is cancelled. */
  signal?: AbortSignal;
}

export type ExpressionLimitName = 'timeoutMs' | 'maxDepth' | 'aborted';

/** An evaluation stopped by a limit, named by `limit` with its configured `value`. */
export class ExpressionLimitError extends Error {
  readonly limit: ExpressionLimitName;
  readonly value: number | undefined;

  constructor(limit: ExpressionLimitName, value: number | undefined, message: string) {
    super(message);
    this.name = 'ExpressionLimitError';
    this.limit = limit;
    this.value = value;
  }
}

interface EvaluationState {
  deadline: number;
  timeoutMs: number;
  maxDepth: number;
  depth: number;
  signal: AbortSignal | undefined;
}

/** Binding name for the per-evaluation state; the space keeps it out of reach of expressions. */
const STATE_BINDING = 'story-engine limits';
const ENTRY = Symbol.for('jsonata.__evaluate_entry');
const EXIT = Symbol.for('jsonata.__evaluate_exit');

interface Environment {
  lookup(name: string | symbol): unknown;
}

/** An expression whose `evaluate` applies the limits. */
export interface LimitedExpression {
  readonly expression: Expression;
  evaluate(input: unknown, bindings?: Record<string, unknown>, limits?: ExpressionLimits): Promise<unknown>;
}

/**
 * Installs the limit hooks on a compiled expression and returns an evaluator that applies
 * `defaults`, which each call may override. Evaluations of the same expression that bypass the
 * returned evaluator run without limits.
 */
export function limitEvaluation(expression: Expression, defaults: ExpressionLimits = {}): LimitedExpression {
  expression.assign(ENTRY as unknown as string, onEntry);
  expression.assign(EXIT as unknown as string, onExit);

  return {
    expression,
    async evaluate(input, bindings = {}, limits = {}) {
      const timeoutMs = limits.timeoutMs ?? defaults.timeoutMs ?? DEFAULT_EXPRESSION_LIMITS.timeoutMs;
      const maxDepth = limits.maxDepth ?? defaults.maxDepth ?? DEFAULT_EXPRESSION_LIMITS.maxDepth;
      const state: EvaluationState = {
        deadline: Date.now() + timeoutMs,
        timeoutMs,
        maxDepth,
        depth: 0,
        signal: limits.signal ?? defaults.signal,
      };
      return expression.evaluate(input, { ...bindings, [STATE_BINDING]: state });
    },
  };
}

function onEntry(_node: unknown, _input: unknown, environment: Environment): void {
  const state = environment.lookup(STATE_BINDING) as EvaluationState | undefined;
  if (state === undefined) return;
  state.depth += 1;
  if (state.depth > state.maxDepth) throw depthError(state.maxDepth);
  if (Date.now() > state.deadline) throw timeoutError(state.timeoutMs);
  if (state.signal?.aborted === true) {
    throw new ExpressionLimitError('aborted', undefined, 'Expression evaluation was aborted.');
  }
}

function onExit(_node: unknown, _input: unknown, environment: Environment): void {
  const state = environment.lookup(STATE_BINDING) as EvaluationState | undefined;
  if (state !== undefined) state.depth -= 1;
}

/**
 * Compiles a JSONata expression with jsonata's built-in guardrails, the `timeout` and `stack`
 * options (checked in jsonata 2.2.2, `jsonata()` in jsonata.js), set from `limits`. They check
 * the same depth and clock at every step as the hooks of limitEvaluation but cost no extra
 * await per step, so the engine uses them for story expressions. They have no abort signal and
 * no per-call override: use limitEvaluation for those. Pass what evaluation throws to `limitError`.
 */
export function compileLimited(source: string, limits: Omit<ExpressionLimits, 'signal'> = {}): Expression {
  return jsonata(source, {
    timeout: limits.timeoutMs ?? DEFAULT_EXPRESSION_LIMITS.timeoutMs,
    stack: limits.maxDepth ?? DEFAULT_EXPRESSION_LIMITS.maxDepth,
  });
}

/** Turns jsonata's guardrail errors (codes D1011 and D1012) into ExpressionLimitError; returns others unchanged. */
export function limitError(error: unknown): unknown {
  const failure = error as { code?: unknown; value?: unknown } | null;
  if (failure === null || typeof failure !== 'object') return error;
  const value = typeof failure.value === 'number' ? failure.value : undefined;
  if (failure.code === 'D1011') return depthError(value);
  if (failure.code === 'D1012') return timeoutError(value);
  return error;
}

function depthError(maxDepth: number | undefined): ExpressionLimitError {
  return new ExpressionLimitError(
    'maxDepth',
    maxDepth,
    `Expression nested deeper than maxDepth ${maxDepth} steps (runaway recursion?); simplify it or raise the limit.`,
  );
}

function timeoutError(timeoutMs: number | undefined): ExpressionLimitError {
  return new ExpressionLimitError(
    'timeoutMs',
    timeoutMs,
    `Expression ran longer than timeoutMs ${timeoutMs} ms (endless loop?); simplify it or raise the limit.`,
  );
}
