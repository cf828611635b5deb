/** Reads the `--port P` argument that the benchmark passes to its hand-written targets. */
export function portArgument(argv: string[]): number {
  const index = argv.indexOf('--port');
  const port = index >= 0 ? Number(argv[index + 1]) : NaN;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error(`invalid --port ${argv[index + 1]}: pass a TCP port between 1 and 65535`);
    process.exit(2);
  }
  return port;
}

/** Reads a required environment variable or exits with a message naming it. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`missing environment variable ${name}: set it before starting this target`);
    process.exit(2);
  }
  return value;
}
