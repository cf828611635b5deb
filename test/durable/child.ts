/** Runs `engine run` as a child process, for tests that kill or signal the engine. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Repository root, from dist/test/durable. */
export const ROOT = join(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'engine', 'cli.js');

export interface EngineProcess {
  child: ChildProcess;
  url: string;
  /** Log lines parsed as JSON, in order. */
  logs: Record<string, unknown>[];
  /** Resolves with the exit code, or the signal name when a signal ended the process. */
  exited: Promise<number | string>;
}

/** Starts `engine run` with `args` and resolves once it logged "engine started". */
export function startEngineProcess(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 10_000,
): Promise<EngineProcess> {
  const child = spawn(process.execPath, [CLI, 'run', ...args, '--port', '0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`engine did not start within ${timeoutMs} ms: ${stderr.join('')}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`engine exited with ${code} before starting: ${stderr.join('')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry['msg'] === 'engine started') {
        clearTimeout(timer);
        resolve({ child, url: String(entry['url']), logs, exited });
      }
    });
  });
}
