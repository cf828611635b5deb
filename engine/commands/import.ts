/**
 * `engine import <tines.json>`: converts a Tines story export into story YAML on stdout and
 * lists what could not be converted on stderr.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { importTinesStory, TinesExportError } from '../tines/import';

function readExport(file: string): unknown {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    const where = file === '-' ? '(stdin)' : file;
    throw new Error(`${where} is not valid JSON: ${(error as Error).message}`);
  }
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description(
      'convert a Tines story export to story YAML: engine import story.json > story.yaml',
    )
    .argument('<export>', 'Tines story export, a JSON file ("-" for stdin)')
    .action((file: string) => {
      let result;
      try {
        result = importTinesStory(readExport(file));
      } catch (error) {
        if (!(error instanceof TinesExportError)) throw error;
        console.error(`engine import: ${file}: ${error.message}`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(result.yaml);
      for (const problem of result.problems) {
        const where =
          problem.action === undefined ? problem.field : `${problem.action}.${problem.field}`;
        console.error(`not converted: ${where}: ${problem.message}`);
      }
      if (result.environment.length > 0) {
        console.error(`set before running: ${result.environment.join(', ')}`);
      }
    });
}
