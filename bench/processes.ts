/**
 * The benchmark's child processes: started here, tracked by PID, and stopped by PID at the
 * end or on any error, so that no run leaves a process behind.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { sleep } from './common.js';

const children = new Set<ChildProcess>();

/** Forks a benchmark helper script with an IPC channel that carries typed arrays. */
export function forkHelper(script: string, args: string[] = []): ChildProcess {
  const child = fork(script, args, { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Waits for a forked helper's `{ready, port}` message. */
export function helperReady(child: ChildProcess, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('message', (message: { ready?: boolean; port?: number }) => {
      if (message.ready && message.port) resolve(message.port);
      else reject(new Error(`${name} sent ${JSON.stringify(message)} instead of its port`));
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with code ${code} while starting`)));
  });
}

export interface TargetProcess {
  child: ChildProcess;
  pid: number;
  logPath: string;
  /** Set once the process has exited, with a description of how. */
  exited?: string;
}

/** Spawns a target with its output going to `logPath`, so logging costs it no pipe to us. */
export function spawnTarget(command: string[], env: NodeJS.ProcessEnv, logPath: string): TargetProcess {
  const log = openSync(logPath, 'a');
  const child = spawn(command[0], command.slice(1), { env, stdio: ['ignore', log, log] });
  if (child.pid === undefined) throw new Error(`could not start ${command.join(' ')}`);
  children.add(child);
  const target: TargetProcess = { child, pid: child.pid, logPath };
  child.once('exit', (code, signal) => {
    children.delete(child);
    target.exited = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.once('error', (error) => {
    target.exited = `spawn error ${error.message}`;
  });
  return target;
}

/** Reads the last lines of a target's log, for error messages. */
export function logTail(target: TargetProcess, lines = 15): string {
  try {
    return readFileSync(target.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function getStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Polls `path` until it returns 200; fails when the target exits or `timeoutMs` passes. */
export async function waitHealthy(target: TargetProcess, name: string, port: number, path: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let status = 0;
  while (Date.now() < deadline) {
    if (target.exited) {
      throw new Error(`target ${name} ${target.exited} while starting; its log ends with:\n${logTail(target)}`);
    }
    status = await getStatus(port, path);
    if (status === 200) return;
    await sleep(100);
  }
  throw new Error(
    `target ${name} did not return 200 on GET ${path} within ${timeoutMs} ms (last status ${status}); ` +
      `its log ends with:\n${logTail(target)}`,
  );
}

/** Stops one child by its PID: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops every child still running, one by one by PID. */
export async function stopAllChildren(): Promise<void> {
  for (const child of [...children]) await stopChild(child);
}
