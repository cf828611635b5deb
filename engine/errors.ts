/** Helpers for errors that the engine creates in bulk. */

/**
 * Calls `create` with stack traces off. For errors thrown once per rejected request, such as
 * a 429 under overload, capturing a trace that is never read is the larger part of the cost.
 */
export function withoutStack<T>(create: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return create();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
