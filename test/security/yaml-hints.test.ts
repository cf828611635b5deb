import { expect } from 'chai';
import { isMap, isScalar, parseDocument } from 'yaml';
import { explainYamlScalar } from '../../engine/security/yaml-hints';

/** Parses `text` and explains the scalar under key `a` as the real loader would see it. */
function hintFor(text: string, expected: string): string {
  const document = parseDocument(text);
  const map = document.contents;
  if (!isMap(map)) throw new Error('test document must be a mapping');
  const node = map.get('a', true);
  const source = isScalar(node) && node.range ? text.slice(node.range[0], node.range[1]) : '';
  const value = (document.toJS() as { a: unknown }).a;
  return explainYamlScalar(source, value, expected);
}

describe('explainYamlScalar', () => {
  const cases: Array<[string, string, string]> = [
    ['a: 0777', 'string', '; YAML reads 0777 as the number 777, dropping the leading zero, so quote it if you meant text: "0777"'],
    ['%YAML 1.1\n---\na: 0777', 'string', '; YAML 1.1 reads 0777 as the octal number 511, so quote it if you meant text: "0777"'],
    ['a: 14.10', 'string', '; YAML reads 14.10 as the number 14.1, so quote it if you meant text: "14.10"'],
    ['a: 14.5', 'string', '; YAML reads unquoted 14.5 as a number, so quote it if you meant text: "14.5"'],
    ['a: 0x1F', 'string', '; YAML reads 0x1F as the hexadecimal number 31, so quote it if you meant text: "0x1F"'],
    ['a: 0o17', 'string', '; YAML reads 0o17 as the octal number 15, so quote it if you meant text: "0o17"'],
    ['a: 1e3', 'string', '; YAML reads 1e3 as the number 1000, so quote it if you meant text: "1e3"'],
    ['%YAML 1.1\n---\na: 12:30', 'string', '; YAML 1.1 reads 12:30 as the base-60 number 750, so quote it if you meant text: "12:30"'],
    ['%YAML 1.1\n---\na: on', 'string', '; YAML reads unquoted on as the boolean true, so quote it if you meant text: "on"'],
    ['a: false', 'string', '; YAML reads unquoted false as the boolean false, so quote it if you meant text: "false"'],
    ['a: ~', 'string', '; YAML reads ~ as null, so fill in the value or quote it'],
    ['a:', 'string', '; YAML reads an empty value as null, so fill in the value or quote it'],
    ['a: yes', 'boolean', '; YAML 1.2 reads yes as the text "yes", not a boolean (YAML 1.1 did), so write true'],
    ['a: off', 'boolean', '; YAML 1.2 reads off as the text "off", not a boolean (YAML 1.1 did), so write false'],
    ['a: 12:30', 'integer', '; YAML 1.2 reads 12:30 as text, not a base-60 number or time (YAML 1.1 did), so write one plain number'],
    ['a: 1_000', 'number', '; YAML 1.2 reads 1_000 as text because of the underscores, so write 1000'],
  ];

  for (const [text, expected, hint] of cases) {
    it(`explains ${JSON.stringify(text.split('\n').pop())} for ${expected}`, () => {
      expect(hintFor(text, expected)).to.equal(hint);
    });
  }

  it('adds nothing for quoted values', () => {
    expect(explainYamlScalar('"0777"', 777, 'string')).to.equal('');
  });

  it('adds nothing for ordinary mismatches', () => {
    expect(hintFor('a: hello', 'boolean')).to.equal('');
    expect(hintFor('a: hello', 'integer')).to.equal('');
  });
});
