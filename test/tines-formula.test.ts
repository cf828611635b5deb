import { expect } from 'chai';
import jsonata from 'jsonata';
import { FormulaError, parseFormula } from '../engine/tines/formula';
import { toJsonata, toTemplate } from '../engine/tines/print';
import { convertText } from '../engine/tines/pills';

const known = new Set(['hook', 'get_host', 'build']);
const resolve = (name: string) => {
  if (name === 'CREDENTIAL') return 'credentials';
  if (name === 'RESOURCE') return 'resources';
  if (!known.has(name)) throw new FormulaError(`"${name}" names no action of this story`);
  return name;
};

const jsonataOf = (formula: string) => toJsonata(parseFormula(formula), resolve);

describe('tines formula to JSONata', () => {
  it('keeps plain paths', () => {
    expect(jsonataOf('get_host.body.host.uuid')).to.equal('get_host.body.host.uuid');
  });

  it('quotes odd field names', () => {
    expect(jsonataOf('hook.body["content-type"]')).to.equal('hook.body.`content-type`');
    expect(jsonataOf('hook.body.and')).to.equal('hook.body.`and`');
  });

  it('maps credentials and resources', () => {
    expect(jsonataOf('CREDENTIAL.token')).to.equal('credentials.token');
    expect(jsonataOf('RESOURCE.fleet_url')).to.equal('resources.fleet_url');
  });

  it('translates FIND with a LAMBDA', () => {
    const text = jsonataOf('FIND(hook.items, LAMBDA(item, item.name = "x")).id');
    expect(text).to.equal('$filter(hook.items, function($item) { $item.name = "x" })[0].id');
  });

  it('translates IF, AND, OR and NOT', () => {
    expect(jsonataOf('IF(AND(hook.a, OR(hook.b, hook.c)), 1, NOT(hook.d))')).to.equal(
      'hook.a and (hook.b or hook.c) ? 1 : $not(hook.d)',
    );
  });

  it('parenthesises by JSONata precedence', () => {
    expect(jsonataOf('hook.a & (hook.b + 1)')).to.equal('hook.a & (hook.b + 1)');
    expect(jsonataOf('(hook.a - hook.b) - hook.c')).to.equal('hook.a - hook.b - hook.c');
    expect(jsonataOf('hook.a - (hook.b - hook.c)')).to.equal('hook.a - (hook.b - hook.c)');
    expect(jsonataOf('hook.a * (hook.b + hook.c)')).to.equal('hook.a * (hook.b + hook.c)');
  });

  it('maps operators with other spellings', () => {
    expect(jsonataOf('hook.a == 1 && hook.b <> 2 || hook.c')).to.equal(
      'hook.a = 1 and hook.b != 2 or hook.c',
    );
  });

  it('indexes the whole value in FIRST and LAST', () => {
    expect(jsonataOf('FIRST(hook.items)')).to.equal('(hook.items)[0]');
    expect(jsonataOf('LAST(hook.items)')).to.equal('(hook.items)[-1]');
  });

  it('writes array literals and TRUE', () => {
    expect(jsonataOf('[get_host.body.host.uuid, TRUE, NULL]')).to.equal(
      '[get_host.body.host.uuid, true, null]',
    );
  });

  it('rejects functions without an equivalent', () => {
    expect(() => jsonataOf('SIZE(hook.items)')).to.throw(
      FormulaError,
      'function SIZE has no direct JSONata equivalent',
    );
  });

  it('rejects unknown action names', () => {
    expect(() => jsonataOf('nobody.body')).to.throw(FormulaError, '"nobody" names no action');
  });

  it('reports the column of a syntax error', () => {
    expect(() => parseFormula('hook.a = ')).to.throw(
      FormulaError,
      'unexpected end of formula at column 10',
    );
    expect(() => parseFormula('hook.a ; 1')).to.throw(
      FormulaError,
      'unexpected character ";" at column 8',
    );
    expect(() => parseFormula('"abc')).to.throw(FormulaError, 'has no closing "');
  });

  it('checks IF arguments', () => {
    expect(() => jsonataOf('IF(hook.a)')).to.throw(
      FormulaError,
      'IF takes 2 to 3 arguments, found 1',
    );
  });

  it('keeps the Fleet policy test meaningful', async () => {
    const formula =
      'IF(FIND(hook.body.failing_policies, LAMBDA(item, item.name = "macOS - OS version up to date")).id > 0, TRUE)';
    const expression = jsonata(jsonataOf(formula));
    const failing = {
      body: { failing_policies: [{ id: 479, name: 'macOS - OS version up to date' }] },
    };
    const other = { body: { failing_policies: [{ id: 5, name: 'Disk encryption' }] } };
    expect(await expression.evaluate({ hook: failing })).to.equal(true);
    expect(await expression.evaluate({ hook: other })).to.equal(undefined);
    expect(await expression.evaluate({ hook: { body: {} } })).to.equal(undefined);
  });
});

describe('tines formula to template', () => {
  const templateOf = (formula: string) => toTemplate(parseFormula(formula), resolve);

  it('writes paths with literal segments', () => {
    expect(templateOf('hook.body.items[0]["odd-name"]')).to.equal('hook.body.items.[0].[odd-name]');
  });

  it('uses helpers for encoders and UUID', () => {
    expect(templateOf('BASE64_ENCODE(build.plist)')).to.equal('base64 build.plist');
    expect(templateOf('UUID()')).to.equal('uuid');
  });

  it('returns undefined for computed formulas', () => {
    expect(templateOf('hook.a + 1')).to.equal(undefined);
  });
});

describe('tines pill text', () => {
  it('turns a lone pill into an expression', () => {
    expect(convertText('<<get_host.body.host>>', resolve)).to.deep.equal({
      value: '=get_host.body.host',
      problems: [],
    });
  });

  it('turns pills inside text into a template', () => {
    const converted = convertText('<<RESOURCE.url>>/hosts/<<hook.body.host_id>>', resolve);
    expect(converted.value).to.equal('{{resources.url}}/hosts/{{hook.body.host_id}}');
  });

  it('concatenates formulas without a template form', () => {
    const converted = convertText('count: <<hook.n + 1>>!', resolve);
    expect(converted.value).to.equal('="count: " & $string(hook.n + 1) & "!"');
  });

  it('uses a template for a lone UUID pill', () => {
    expect(convertText('<<UUID()>>', resolve).value).to.equal('{{uuid}}');
  });

  it('reads Liquid output and tags', () => {
    const converted = convertText('Bearer {% credential token %} {{ .hook.body.id }}', resolve);
    expect(converted.value).to.equal('Bearer {{credentials.token}} {{hook.body.id}}');
    expect(converted.problems).to.deep.equal([]);
  });

  it('keeps a Liquid filter as escaped text', () => {
    const converted = convertText('x {{ .hook.body | as_object }}', resolve);
    expect(converted.value).to.equal('x \\{{ .hook.body | as_object }}');
    expect(converted.problems).to.deep.equal([
      '{{ .hook.body | as_object }}: Liquid filters have no direct equivalent',
    ]);
  });

  it('keeps an unconvertible pill and says why', () => {
    const converted = convertText('n=<<SIZE(hook.items)>> of <<hook.total>>', resolve);
    expect(converted.value).to.equal('n=<<SIZE(hook.items)>> of {{hook.total}}');
    expect(converted.problems).to.deep.equal([
      '<<SIZE(hook.items)>>: function SIZE has no direct JSONata equivalent',
    ]);
  });

  it('escapes a literal leading equals sign', () => {
    expect(convertText('=not an expression', resolve).value).to.equal('\\=not an expression');
  });
});
