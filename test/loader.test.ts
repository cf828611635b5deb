import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { loadStories, loadStory } from '../engine/loader';
import { formatProblem } from '../engine/problems';
import { renderSchema, SCHEMA_FILE } from '../engine/write-schema';
import { storyFile } from './helpers/engine';

const ROOT = path.join(__dirname, '..', '..');
const BROKEN = path.join(ROOT, 'test', 'fixtures', 'broken');
const STORIES = path.join(ROOT, 'stories');

describe('story loader', () => {
  it('loads every story in stories/ without problems', () => {
    const result = loadStories([STORIES]);
    expect(result.problems.map((problem) => formatProblem(problem))).to.deep.equal([]);
    expect(result.stories.length).to.be.greaterThan(0);
  });

  it('links the Fleet story actions by their after fields', () => {
    const { story } = loadStory(path.join(STORIES, 'fleet-os-update.yaml'));
    expect(story?.path).to.equal('fleet');
    expect(story?.byName.get('calendar_webhook')?.children).to.deep.equal(['webhook_error', 'os_policy_failing']);
    expect(story?.byName.get('run_mdm_command')?.ancestors.has('get_host')).to.equal(true);
  });

  describe('broken stories report line:col, field and message', () => {
    for (const file of readdirSync(BROKEN).filter((name) => name.endsWith('.yaml'))) {
      it(file, () => {
        const full = path.join(BROKEN, file);
        const expected = readFileSync(full, 'utf8')
          .split('\n')
          .filter((line) => line.startsWith('# expect: '))
          .map((line) => line.slice('# expect: '.length));
        const result = loadStory(full);
        const actual = result.problems.map(
          (problem) => `${problem.position?.line}:${problem.position?.col} ${problem.field}: ${problem.message}`,
        );
        expect(actual).to.deep.equal(expected);
        expect(result.story).to.equal(undefined);
      });
    }
  });

  it('formats a problem with file:line:col, the line and a caret', () => {
    const file = path.join(BROKEN, 'bad-method.yaml');
    const result = loadStory(file);
    const text = formatProblem(result.problems[0]!, result.source);
    expect(text).to.equal(
      `${file}:7:13 actions[1].method: must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (got "FETCH")\n` +
        '  7 |     method: FETCH\n' +
        '    |             ^',
    );
  });

  it('reports all problems of a story together', () => {
    const file = storyFile(`actions:
  - { name: hook, type: webhook, path: in }
  - { name: a, type: trigger, after: nope, when: "true" }
  - { name: b, type: trigger, after: hook }
`);
    const codes = loadStory(file).problems.map((problem) => problem.code);
    expect(codes).to.deep.equal(['unknown_after', 'trigger_condition']);
  });

  it('rejects two stories serving the same webhook URL', () => {
    const yaml = 'path: same\nactions:\n  - { name: hook, type: webhook, path: in }\n';
    const first = storyFile(yaml, 'a.yaml');
    const second = storyFile(yaml, 'b.yaml');
    const result = loadStories([first, second]);
    expect(result.problems).to.have.length(1);
    expect(result.problems[0]?.message).to.equal(`webhook /webhook/same/in is also defined at ${first}:3:40`);
  });

  it('names a missing story file', () => {
    const result = loadStory('/nonexistent/story.yaml');
    expect(result.problems[0]?.message).to.match(/^cannot read story: ENOENT/);
  });

  it('rejects . and .. segments in webhook paths', () => {
    const file = storyFile('actions:\n  - { name: hook, type: webhook, path: "../other/in" }\n');
    const [problem] = loadStory(file).problems;
    expect(problem?.field).to.equal('actions[0].path');
    expect(problem?.message).to.match(/^must match /);
  });

  it('reports a bad rule at its own line', () => {
    const file = storyFile(`actions:
  - { name: hook, type: webhook, path: in }
  - name: check
    type: trigger
    after: hook
    rules:
      - { type: "field==value", path: hook.body.a, value: 1 }
      - { type: regex, path: hook.body.b, value: "[a-" }
`);
    const problems = loadStory(file).problems;
    expect(problems.map((problem) => problem.field)).to.deep.equal(['actions[1].rules[1].value']);
    expect(problems[0]?.message).to.match(/^invalid regular expression: /);
    expect(problems[0]?.position?.line).to.equal(8);
  });

  it('does not suggest an unknown after name', () => {
    const file = storyFile(`actions:
  - { name: hook, type: webhook, path: in }
  - { name: check, type: trigger, after: hok, when: "hook.body.x = 1" }
`);
    const messages = loadStory(file).problems.map((problem) => problem.message);
    expect(messages[0]).to.equal('no action named "hok"; did you mean "hook"?');
    expect(messages[1]).to.match(/^in action "check": unknown name "hook"\. Available here: credentials/);
  });

  it('reports reference problems beside schema problems', () => {
    const file = storyFile(`actions:
  - { name: hook, type: webhook, path: in }
  - { name: call, type: http_request, after: hok, methd: GET, url: "http://127.0.0.1:9/" }
`);
    const codes = loadStory(file).problems.map((problem) => problem.code);
    expect(codes).to.deep.equal(['unknown_after', 'unknown_field']);
  });

  it('explains a leading = in when', () => {
    const file = storyFile(`actions:
  - { name: hook, type: webhook, path: in }
  - { name: check, type: trigger, after: hook, when: "=hook.body.x" }
`);
    const [problem] = loadStory(file).problems;
    expect(problem?.message).to.contain('this field is a JSONata expression already, so leave out the leading "="');
  });

  it('keeps schemas/story.schema.json in step with the action types', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8'), 'run `npm run schema`').to.equal(renderSchema());
  });
});
