/** `engine graph <story>`: prints the story's action graph as Mermaid or DOT text. */
import { InvalidArgumentError, type Command } from 'commander';
import { GRAPH_FORMATS, renderGraph, type GraphFormat } from '../graph';
import { loadStory } from '../loader';
import { formatProblem } from '../problems';

function graphFormat(value: string): GraphFormat {
  if (!(GRAPH_FORMATS as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${GRAPH_FORMATS.join(', ')}, got "${value}"`);
  }
  return value as GraphFormat;
}

export function registerGraph(program: Command): void {
  program
    .command('graph')
    .description('print a story as a graph: actions, after: edges, conditions, error branch')
    .argument('<story>', 'story file')
    .option(
      '-f, --format <format>',
      `output format: ${GRAPH_FORMATS.join(' or ')}`,
      graphFormat,
      'mermaid',
    )
    .action((file: string, options: { format: GraphFormat }) => {
      const result = loadStory(file);
      if (result.story === undefined) {
        for (const problem of result.problems) console.error(formatProblem(problem, result.source));
        console.error(`${result.problems.length} problem(s) found; fix them to draw the graph`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(renderGraph(result.story, options.format));
    });
}
