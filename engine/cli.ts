#!/usr/bin/env node
/** The `engine` command line. Each command lives in engine/commands/. */
import { Command } from 'commander';
import { registerGraph } from './commands/graph';
import { registerHistory } from './commands/history';
import { registerImport } from './commands/import';
import { registerReplay } from './commands/replay';
import { registerRun } from './commands/run';
import { registerTest } from './commands/test';
import { registerValidate } from './commands/validate';

const program = new Command();
program
  .name('engine')
  .description('story-engine: run automation stories written as YAML')
  .showHelpAfterError();

registerRun(program);
registerValidate(program);
registerGraph(program);
registerImport(program);
registerTest(program);
registerHistory(program);
registerReplay(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(`engine: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
