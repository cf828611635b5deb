/**
 * Book-keeping for converting one Tines agent: the options taken so far and the problems
 * found, so every option the converters did not take is reported.
 */
import type { RootResolver } from './print';
import type { TinesAgent } from './import';
import { convertValue } from './pills';

export interface AgentProblem {
  field: string;
  message: string;
}

export interface ConvertedAction {
  action: Record<string, unknown>;
  problems: AgentProblem[];
  /** Credentials the action needs beyond those its options refer to (a webhook secret). */
  credentials: string[];
}

/** Collects converted fields and problems for one agent. */
export class AgentConversion {
  readonly problems: AgentProblem[] = [];
  readonly credentials: string[] = [];
  private readonly remaining: Set<string>;

  constructor(
    readonly agent: TinesAgent,
    readonly name: string,
    readonly resolve: RootResolver,
  ) {
    this.remaining = new Set(Object.keys(agent.options));
  }

  /** Returns an option and marks it as handled. */
  take(key: string): unknown {
    this.remaining.delete(key);
    return this.agent.options[key];
  }

  problem(field: string, message: string): void {
    this.problems.push({ field, message });
  }

  /** Converts an option value's references, reporting those that stay as written. */
  value(value: unknown, field: string): unknown {
    const converted = convertValue(value, this.resolve);
    for (const message of converted.problems) this.problem(field, message);
    return converted.value;
  }

  /** Reports every option that no converter took. */
  reportRemaining(): void {
    // Values stay out of the message because options such as `secret` hold credentials.
    for (const key of this.remaining) {
      this.problem(`options.${key}`, 'option has no equivalent here and was left out');
    }
  }
}
