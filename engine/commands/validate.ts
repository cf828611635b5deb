/** `engine validate <files...>`: prints every load problem with its position; exit 1 on any. */
import type { Command } from 'commander';
import { loadStories } from '../loader';
import { formatProblem } from '../problems';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check story files: schema, references, expressions and templates')
    .argument('<paths...>', 'story files or folders of stories')
    .action((paths: string[]) => {
      const result = loadStories(paths);
      for (const problem of result.problems) {
        const source = problem.position ? result.sources.get(problem.position.file) : undefined;
        console.error(formatProblem(problem, source));
      }
      if (result.problems.length > 0) {
        console.error(`${result.problems.length} problem(s) found`);
        process.exitCode = 1;
        return;
      }
      for (const story of result.stories) {
        console.log(`${story.file}: ok (${story.actions.length} actions, story path /webhook/${story.path}/)`);
      }
    });
}
