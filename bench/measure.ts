/**
 * Resource readings of a target: CPU time and memory of its processes and their live
 * descendants, read from /proc, so that a target is charged for its own work only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readCpuMs, readMemoryMb } from './common.js';

function parentPid(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** Lists the given PIDs plus every live process below them. */
export function processTree(roots: number[]): number[] {
  const all = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  const tree = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const pid of all) {
      if (!tree.has(pid) && tree.has(parentPid(pid))) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree];
}

function sumOver(pids: number[], read: (pid: number) => number): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += read(pid);
    } catch {
      // A process that exited between listing and reading no longer counts.
    }
  }
  return total;
}

export function cpuMs(roots: number[]): number {
  return sumOver(processTree(roots), readCpuMs);
}

export function rssMb(roots: number[]): number {
  return sumOver(processTree(roots), (pid) => readMemoryMb(pid, 'VmRSS'));
}

/** Sum of each process's own peak resident set (VmHWM); an upper bound on the joint peak. */
export function peakRssMb(roots: number[]): number {
  return sumOver(processTree(roots), (pid) => readMemoryMb(pid, 'VmHWM'));
}

/** Samples the resident set of a target every `intervalMs` and keeps the maximum. */
export class RssSampler {
  max = 0;
  private timer: NodeJS.Timeout;

  constructor(private readonly roots: number[], intervalMs = 200) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    this.max = Math.max(this.max, rssMb(this.roots));
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.max;
  }
}
