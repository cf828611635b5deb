/**
 * One measured phase against one target: send load, wait (bounded) until every accepted
 * webhook's command has reached the fake Fleet, and turn the records into figures.
 */
import type { ChildProcess } from 'node:child_process';
import { hostUuid, ipcCall, quantile, sleep } from './common';
import type { LoadPlan, LoadResult } from './loadgen';
import { cpuMs, RssSampler } from './measure';

export interface PhaseFigures {
  phase: string;
  requests: number;
  accepted: number;
  /** 429 responses: the target rejected work it could not take on, which is not an error. */
  rejected: number;
  acksPerSecond: number;
  flowsPerSecond: number;
  completed: number;
  ackP50Ms: number;
  ackP99Ms: number;
  e2eP50Ms: number;
  e2eP99Ms: number;
  cpuMsPerFlow: number;
  peakRssMb: number;
  errors: number;
  /** Error counts by kind, for the report: `5 × HTTP 500`, `3 missing commands`. */
  errorDetails: string[];
}

export interface FleetTake {
  uuids: string[];
  times: Float64Array;
  duplicateCommands: number;
  rejectedToken: number;
  rejectedCommand: number;
  unknownRoute: number;
}

export interface PhaseContext {
  loadgen: ChildProcess;
  fleet: ChildProcess;
  /** PIDs of the target's processes; CPU and memory are read for these and their children. */
  targetPids: number[];
  callsFleet: boolean;
  drainTimeoutMs: number;
  /** Throws when the target has died, so a broken target fails the run instead of scoring zero. */
  checkAlive(): void;
}

/** Waits until the fake Fleet has seen `expected` commands, or the drain time runs out. */
async function drainFleet(context: PhaseContext, expected: number): Promise<void> {
  const deadline = Date.now() + context.drainTimeoutMs;
  while (Date.now() < deadline) {
    context.checkAlive();
    const stats = await ipcCall<{ arrived: number }>(context.fleet, { type: 'stats' });
    if (stats.arrived >= expected) return;
    await sleep(50);
  }
}

/** Runs `plan` and drains; returns the raw records, with the target's CPU over the phase. */
export async function runLoad(context: PhaseContext, plan: LoadPlan) {
  const cpuBefore = cpuMs(context.targetPids);
  const sampler = new RssSampler(context.targetPids);
  let load: LoadResult;
  let take: FleetTake | undefined;
  try {
    const timeoutMs = plan.durationMs + plan.timeoutMs + 30_000;
    load = (await ipcCall<{ result: LoadResult }>(context.loadgen, { plan }, timeoutMs)).result;
    context.checkAlive();
    if (context.callsFleet) {
      let accepted = 0;
      for (const status of load.status) if (status >= 200 && status < 300) accepted++;
      await drainFleet(context, accepted);
      take = await ipcCall<FleetTake>(context.fleet, { type: 'take' });
    }
  } finally {
    sampler.stop();
  }
  return { load, take, cpuMs: cpuMs(context.targetPids) - cpuBefore, peakRssMb: sampler.max };
}

function milliseconds(sortedUs: number[], q: number): number {
  return quantile(sortedUs, q) / 1000;
}

/** Turns one phase's records into figures; for `bare`, a flow ends with its acknowledgement. */
export function figuresOf(phase: string, run: Awaited<ReturnType<typeof runLoad>>): PhaseFigures {
  const { load, take } = run;
  const arrivals = new Map<string, number>();
  if (take) take.uuids.forEach((uuid, index) => arrivals.set(uuid, take.times[index]));

  const ackLatencies: number[] = [];
  const e2eLatencies: number[] = [];
  const statusCounts = new Map<number, number>();
  let accepted = 0;
  let rejected = 0;
  let missing = 0;
  let lastAckUs = load.startUs;
  let lastDoneUs = load.startUs;
  for (let index = 0; index < load.count; index++) {
    const status = load.status[index];
    if (status === 429) rejected++;
    else if (status < 200 || status >= 300) statusCounts.set(status, (statusCounts.get(status) ?? 0) + 1);
    if (status < 200 || status >= 300) continue;
    accepted++;
    const ackLatency = load.ackUs[index] - load.plannedUs[index];
    ackLatencies.push(ackLatency);
    lastAckUs = Math.max(lastAckUs, load.ackUs[index]);
    const uuid = hostUuid(load.ids[index]);
    const arrivedUs = take ? arrivals.get(uuid) : load.ackUs[index];
    if (arrivedUs === undefined) {
      missing++;
      continue;
    }
    arrivals.delete(uuid);
    e2eLatencies.push(arrivedUs - load.plannedUs[index]);
    lastDoneUs = Math.max(lastDoneUs, arrivedUs);
  }
  ackLatencies.sort((a, b) => a - b);
  e2eLatencies.sort((a, b) => a - b);

  const errorDetails: string[] = [];
  for (const [status, count] of statusCounts) {
    errorDetails.push(status === 0 ? `${count} × socket error` : `${count} × HTTP ${status}`);
  }
  for (const [message, count] of Object.entries(load.socketErrors)) errorDetails.push(`${count} × ${message}`);
  if (missing) errorDetails.push(`${missing} missing commands`);
  // Commands left over belong to no accepted webhook of this phase.
  if (arrivals.size) errorDetails.push(`${arrivals.size} unexpected commands`);
  if (take?.duplicateCommands) errorDetails.push(`${take.duplicateCommands} duplicate commands`);
  if (take?.rejectedToken) errorDetails.push(`${take.rejectedToken} Fleet calls with a wrong token`);
  if (take?.rejectedCommand) errorDetails.push(`${take.rejectedCommand} invalid commands`);
  if (take?.unknownRoute) errorDetails.push(`${take.unknownRoute} calls to unknown Fleet routes`);
  const nonSuccess = [...statusCounts.values()].reduce((sum, count) => sum + count, 0);
  const errors =
    nonSuccess + missing + arrivals.size + (take ? take.duplicateCommands + take.rejectedToken + take.rejectedCommand + take.unknownRoute : 0);

  const completed = e2eLatencies.length;
  return {
    phase,
    requests: load.count,
    accepted,
    rejected,
    acksPerSecond: accepted / ((lastAckUs - load.startUs) / 1e6),
    flowsPerSecond: completed / ((lastDoneUs - load.startUs) / 1e6),
    completed,
    ackP50Ms: milliseconds(ackLatencies, 0.5),
    ackP99Ms: milliseconds(ackLatencies, 0.99),
    e2eP50Ms: milliseconds(e2eLatencies, 0.5),
    e2eP99Ms: milliseconds(e2eLatencies, 0.99),
    cpuMsPerFlow: run.cpuMs / completed,
    peakRssMb: run.peakRssMb,
    errors,
    errorDetails,
  };
}
