import { expect } from 'chai';
import Handlebars from 'handlebars';
import jsonata from 'jsonata';
import { compileJsonata, evaluateJsonata } from '../../engine/expressions';
import { ExpressionLimitError, compileLimited, limitError, limitEvaluation } from '../../engine/security/expression-limits';

async function limitFailure(promise: Promise<unknown>): Promise<ExpressionLimitError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(ExpressionLimitError);
    return error as ExpressionLimitError;
  }
  throw new Error('expected the evaluation to fail');
}

describe('limitEvaluation', () => {
  it('evaluates ordinary expressions', async () => {
    const limited = limitEvaluation(jsonata('$count(body.failing_policies[name = "p"]) > 0'));
    expect(await limited.evaluate({ body: { failing_policies: [{ name: 'p' }] } })).to.equal(true);
  });

  it('passes bindings through', async () => {
    const limited = limitEvaluation(jsonata('$x + 1'));
    expect(await limited.evaluate({}, { x: 41 })).to.equal(42);
  });

  it('stops runaway recursion at maxDepth', async () => {
    const limited = limitEvaluation(jsonata('($f := function($n){ $n + $f($n + 1) }; $f(0))'), { maxDepth: 300 });
    const error = await limitFailure(limited.evaluate({}));
    expect(error.limit).to.equal('maxDepth');
    expect(error.value).to.equal(300);
    expect(error.message).to.equal(
      'Expression nested deeper than maxDepth 300 steps (runaway recursion?); simplify it or raise the limit.',
    );
  });

  it('stops an endless tail-recursive loop at timeoutMs', async () => {
    const limited = limitEvaluation(jsonata('($f := function($n){ $f($n + 1) }; $f(0))'), { timeoutMs: 100 });
    const started = Date.now();
    const error = await limitFailure(limited.evaluate({}));
    expect(error.limit).to.equal('timeoutMs');
    expect(error.value).to.equal(100);
    expect(error.message).to.equal('Expression ran longer than timeoutMs 100 ms (endless loop?); simplify it or raise the limit.');
    expect(Date.now() - started).to.be.lessThan(1000);
  });

  it('lets a call override the defaults', async () => {
    const limited = limitEvaluation(jsonata('($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100))'), { maxDepth: 50 });
    expect((await limitFailure(limited.evaluate({}))).limit).to.equal('maxDepth');
    expect(await limited.evaluate({}, {}, { maxDepth: 2000 })).to.equal(100);
  });

  it('keeps concurrent evaluations apart', async () => {
    const limited = limitEvaluation(jsonata('($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(depth))'), { maxDepth: 200 });
    const results = await Promise.allSettled([limited.evaluate({ depth: 30 }), limited.evaluate({ depth: 500 }), limited.evaluate({ depth: 30 })]);
    expect(results[0]).to.deep.equal({ status: 'fulfilled', value: 30 });
    expect(results[1].status).to.equal('rejected');
    expect(results[2]).to.deep.equal({ status: 'fulfilled', value: 30 });
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    const limited = limitEvaluation(jsonata('a + 1'), { signal: controller.signal });
    const error = await limitFailure(limited.evaluate({ a: 1 }));
    expect(error.limit).to.equal('aborted');
  });

  it('hides its state binding from expressions', async () => {
    const limited = limitEvaluation(jsonata('$keys($$)'));
    expect(await limited.evaluate({ a: 1 })).to.equal('a');
  });

  it('leaves the process usable after a limit', async () => {
    const runaway = limitEvaluation(jsonata('($f := function($n){ $f($n + 1) }; $f(0))'), { timeoutMs: 50 });
    await limitFailure(runaway.evaluate({}));
    expect(await limitEvaluation(jsonata('1 + 1')).evaluate({})).to.equal(2);
  });
});

describe('Handlebars prototype access', () => {
  const render = (source: string, data: unknown): string => Handlebars.compile(source, { noEscape: true })(data);

  it('yields nothing for constructor.constructor', () => {
    expect(render('{{constructor.constructor}}', {})).to.equal('');
  });

  it('yields nothing for __proto__ and prototype paths', () => {
    expect(render('{{__proto__}}', {})).to.equal('');
    expect(render('{{constructor.prototype}}', {})).to.equal('');
    expect(render('{{#with this}}{{__defineGetter__}}{{/with}}', {})).to.equal('');
  });

  it('cannot run code through lookup helpers', () => {
    const source = '{{#with (lookup this "constructor")}}{{#with (lookup this "constructor")}}{{this "return 1"}}{{/with}}{{/with}}';
    expect(() => render(source, {})).to.not.throw();
    expect(render(source, {})).to.equal('');
  });

  it('still reads own properties', () => {
    expect(render('{{host.name}}', { host: { name: 'mac-1' } })).to.equal('mac-1');
  });
});

describe('compileLimited', () => {
  it('evaluates a normal expression', async () => {
    const expression = compileLimited('$count(body.failing_policies[name = "p"]) > 0');
    expect(await expression.evaluate({ body: { failing_policies: [{ name: 'p' }] } })).to.equal(true);
  });

  it('stops runaway recursion at maxDepth', async () => {
    const expression = compileLimited('($f := function($n){ $n + $f($n + 1) }; $f(0))', { maxDepth: 300 });
    const error = await limitFailure(expression.evaluate({}).catch((raw: unknown) => Promise.reject(limitError(raw))));
    expect(error.limit).to.equal('maxDepth');
    expect(error.value).to.equal(300);
    expect(error.message).to.equal(
      'Expression nested deeper than maxDepth 300 steps (runaway recursion?); simplify it or raise the limit.',
    );
  });

  it('stops an endless loop at timeoutMs', async () => {
    const expression = compileLimited('($f := function($n){ $f($n + 1) }; $f(0))', { timeoutMs: 100 });
    const started = Date.now();
    const error = await limitFailure(expression.evaluate({}).catch((raw: unknown) => Promise.reject(limitError(raw))));
    expect(error.limit).to.equal('timeoutMs');
    expect(error.value).to.equal(100);
    expect(error.message).to.equal('Expression ran longer than timeoutMs 100 ms (endless loop?); simplify it or raise the limit.');
    expect(Date.now() - started).to.be.lessThan(1000);
  });

  it('passes other errors through', () => {
    const other = { code: 'T2001', message: 'not a number' };
    expect(limitError(other)).to.equal(other);
    expect(limitError('text')).to.equal('text');
  });
});

describe('evaluateJsonata limits', () => {
  it('stops runaway recursion in a story expression', async () => {
    const expression = compileJsonata('($f := function($n){ $n + $f($n + 1) }; $f(0))');
    const meta = { story: 'limits', run_id: 'run-1', event_id: null, action: 'check', time: new Date(0).toISOString() };
    const error = await limitFailure(evaluateJsonata(expression, { credentials: {}, resources: {}, meta }));
    expect(error.limit).to.equal('maxDepth');
    expect(error.value).to.equal(1000);
  });
});
