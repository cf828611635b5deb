/**
 * The `engine-postgres` and `engine-postgres-2` benchmark targets: N `engine run` processes on
 * one fresh PostgreSQL schema. The first serves the webhooks on --port; the others listen on
 * free ports and only claim work, so every worker shares the queue. The schema is dropped on
 * exit. Usage: node dist/bench/targets/postgres-workers.js --port P --workers N
 * The database comes from ENGINE_BENCH_PG_URL, default database `test` on 127.0.0.1:5432 as the
 * OS user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { portArgument } from './args.js';

const port = portArgument(process.argv);
const workersIndex = process.argv.indexOf('--workers');
const workers = workersIndex >= 0 ? Number(process.argv[workersIndex + 1]) : 1;
if (!Number.isInteger(workers) || workers < 1 || workers > 16) {
  console.error(`invalid --workers ${process.argv[workersIndex + 1]}: pass a whole number from 1 to 16`);
  process.exit(2);
}

const databaseUrl =
  process.env.ENGINE_BENCH_PG_URL ?? `postgres://${userInfo().username}@127.0.0.1:5432/test`;
const schema = `bench_${randomBytes(6).toString('hex')}`;
const separator = databaseUrl.includes('?') ? '&' : '?';
const engineCli = join(__dirname, '..', '..', 'engine', 'cli.js');
const story = join(__dirname, '..', '..', '..', 'stories', 'fleet-os-update.yaml');

const children: ChildProcess[] = [];
let stopping = false;

for (let index = 0; index < workers; index++) {
  const args = [engineCli, 'run', story, '--port', String(index === 0 ? port : 0)];
  args.push('--db', `${databaseUrl}${separator}schema=${schema}`);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ENGINE_LOG_LEVEL: process.env.ENGINE_LOG_LEVEL ?? 'warn' },
    stdio: 'inherit',
  });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`engine worker ${index} exited (${signal ?? `code ${code}`}); stopping all`);
      void stop(1);
    }
  });
}

/** Stops every worker by PID, waits for them, then drops the schema. */
async function stop(exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  const client = new Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } catch (error) {
    console.error(`dropping schema ${schema} failed: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  process.exit(exitCode);
}

process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
