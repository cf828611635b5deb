/** Load problems: formatting with file:line:col, the source line and a caret. */
import type { LoadProblem } from './types';

/** Thrown when stories cannot be loaded; carries every problem found. */
export class StoryLoadError extends Error {
  constructor(readonly problems: LoadProblem[]) {
    super(problems.map((problem) => formatProblem(problem)).join('\n'));
    this.name = 'StoryLoadError';
  }
}

/** `file:line:col field: message`, followed by the source line and a caret when given. */
export function formatProblem(problem: LoadProblem, source?: string): string {
  const where = problem.position
    ? `${problem.position.file}:${problem.position.line}:${problem.position.col}`
    : '(unknown position)';
  const field = problem.field ? ` ${problem.field}:` : '';
  let text = `${where}${field} ${problem.message}`;
  if (source !== undefined && problem.position) {
    const line = source.split(/\r?\n/)[problem.position.line - 1];
    if (line !== undefined) {
      const number = String(problem.position.line);
      const gutter = ' '.repeat(number.length);
      text += `\n  ${number} | ${line}\n  ${gutter} | ${' '.repeat(problem.position.col - 1)}^`;
    }
  }
  return text;
}
