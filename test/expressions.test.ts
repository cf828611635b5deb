import { expect } from 'chai';
import { compileValue, type ValueProblem } from '../engine/expressions';
import type { EvalContext } from '../engine/types';

const context: EvalContext = {
  hook: { body: { id: 7, name: 'Ann & <Bob>', list: [{ name: 'x', id: 1 }, { name: 'y', id: 2 }] } },
  credentials: { token: 's3cret' },
  resources: { version: '14.5' },
  meta: { story: 's', run_id: 'r', event_id: null, action: 'a', time: '2026-01-01T00:00:00.000Z' },
};

async function value(raw: unknown): Promise<unknown> {
  const problems: ValueProblem[] = [];
  const compiled = compileValue(raw, undefined, problems);
  expect(problems.map((problem) => problem.error.message)).to.deep.equal([]);
  return compiled.evaluate(context);
}

function problemsOf(raw: unknown): string[] {
  const problems: ValueProblem[] = [];
  compileValue(raw, (name) => (name in context ? undefined : `unknown name "${name}"`), problems);
  return problems.map((problem) => problem.error.message);
}

describe('story values', () => {
  it('evaluates = strings as typed JSONata', async () => {
    expect(await value('=hook.body.list[name = "y"].id')).to.equal(2);
    expect(await value('=[hook.body.id]')).to.deep.equal([7]);
  });

  it('renders {{ }} strings as templates without HTML escaping', async () => {
    expect(await value('{{hook.body.name}} v{{resources.version}}')).to.equal('Ann & <Bob> v14.5');
  });

  it('keeps literals and unescapes \\=', async () => {
    expect(await value({ a: 1, b: [true, null], c: 'plain' })).to.deep.equal({ a: 1, b: [true, null], c: 'plain' });
    expect(await value('\\=not an expression')).to.equal('=not an expression');
  });

  it('walks nested objects and arrays', async () => {
    expect(await value({ outer: [{ id: '=hook.body.id' }, '{{hook.body.id}}'] })).to.deep.equal({
      outer: [{ id: 7 }, '7'],
    });
  });

  it('provides the base64, json, url and xml helpers', async () => {
    expect(await value('{{base64 "hi"}}')).to.equal('aGk=');
    expect(await value('{{base64_encode "hi"}}')).to.equal('aGk=');
    expect(await value('{{base64_decode "aGk="}}')).to.equal('hi');
    expect(await value('{{json hook.body.list.[0]}}')).to.equal('{"name":"x","id":1}');
    expect(await value('{{url_encode "a b/c"}}')).to.equal('a%20b%2Fc');
    expect(await value('{{xml_escape hook.body.name}}')).to.equal('Ann &amp; &lt;Bob&gt;');
  });

  it('provides default, eq, and, or, not', async () => {
    expect(await value('{{default hook.body.missing "none"}}')).to.equal('none');
    expect(await value('{{#if (eq hook.body.id 7)}}seven{{/if}}')).to.equal('seven');
    expect(await value('{{#if (and true (or false (not false)))}}yes{{/if}}')).to.equal('yes');
  });

  it('gives a fresh uuid on each evaluation', async () => {
    const first = await value('{{uuid}}');
    const second = await value('{{uuid}}');
    expect(first).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(second).to.not.equal(first);
    expect(await value('=$uuid()')).to.match(/^[0-9a-f-]{36}$/);
  });

  it('formats now with a pattern', async () => {
    expect(await value('{{now "YYYY"}}')).to.equal(String(new Date().getUTCFullYear()));
    expect(Number(await value('{{now "unix"}}'))).to.be.closeTo(Date.now() / 1000, 5);
  });

  it('reports syntax errors, unknown helpers and unknown names', () => {
    expect(problemsOf('=hook.body[')).to.have.length(1);
    expect(problemsOf('{{nope hook}}')[0]).to.match(/^unknown helper "nope"/);
    expect(problemsOf('{{hok.body}}')).to.deep.equal(['unknown name "hok"']);
    expect(problemsOf('=hok.body')).to.deep.equal(['unknown name "hok"']);
  });

  it('does not check names inside JSONata predicates', () => {
    expect(problemsOf('=$count(hook.body.list[name = "x"]) > 0')).to.deep.equal([]);
  });

  it('gives templates no access to prototypes', async () => {
    expect(await value('{{hook.constructor.name}}')).to.equal('');
  });

  it('renders unless without naming if', async () => {
    expect(await value('{{#unless hook.body.missing}}none{{/unless}}')).to.equal('none');
    expect(await value('{{#unless hook.body.id}}none{{else}}some{{/unless}}')).to.equal('some');
    expect(await value('{{#each hook.body.list}}{{#unless @first}}, {{/unless}}{{name}}{{/each}}')).to.equal('x, y');
  });

  it('iterates a list in a section without naming each', async () => {
    expect(await value('{{#hook.body.list}}[{{name}}]{{/hook.body.list}}')).to.equal('[x][y]');
    expect(await value('{{^hook.body.list}}empty{{/hook.body.list}}')).to.equal('');
  });
});
