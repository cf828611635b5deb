import { Writable } from 'node:stream';
import { expect } from 'chai';
import pino from 'pino';
import { REDACTED, Redactor, createPinoOptions } from '../../engine/security/redact';

const token = 'fleet-T0ken/with+odd=chars';

function forms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64url'),
    Buffer.from(`admin:${secret}`).toString('base64'),
    Buffer.from(`${secret}:`).toString('base64'),
    Buffer.from(`ab:${secret}`).toString('base64'),
  ];
}

function assertClean(text: string): void {
  for (const form of forms(token)) expect(text, `leaked form ${form}`).to.not.include(form);
}

describe('Redactor', () => {
  const redactor = new Redactor([token, 'ab']);

  it('replaces the plain secret', () => {
    expect(redactor.string(`Bearer ${token}`)).to.equal(`Bearer ${REDACTED}`);
  });

  it('replaces the URL-encoded secret', () => {
    const url = `https://x/?token=${encodeURIComponent(token)}&a=1`;
    expect(redactor.string(url)).to.equal(`https://x/?token=${REDACTED}&a=1`);
  });

  it('replaces the form-encoded secret', () => {
    const form = new URLSearchParams({ token }).toString();
    expect(redactor.string(form)).to.equal(`token=${REDACTED}`);
  });

  it('replaces base64 and base64url forms', () => {
    expect(redactor.string(`x ${Buffer.from(token).toString('base64')} y`)).to.equal(`x ${REDACTED} y`);
    expect(redactor.string(`x ${Buffer.from(token).toString('base64url')} y`)).to.equal(`x ${REDACTED} y`);
  });

  it('replaces Basic credentials at every alignment', () => {
    for (const user of ['', 'a', 'ab', 'abc', 'admin']) {
      const header = `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
      expect(redactor.string(header), user).to.equal(`Basic ${REDACTED}`);
    }
    const header = `Basic ${Buffer.from(`${token}:`).toString('base64')}`;
    expect(redactor.string(header)).to.equal(`Basic ${REDACTED}`);
  });

  it('leaves short secrets inside text alone', () => {
    expect(redactor.string('tabs and labs')).to.equal('tabs and labs');
  });

  it('replaces a short secret as a whole value', () => {
    expect(redactor.string('ab')).to.equal(REDACTED);
  });

  it('leaves unrelated base64 alone', () => {
    const other = Buffer.from('nothing secret here at all').toString('base64');
    expect(redactor.string(other)).to.equal(other);
  });

  it('deep-redacts JSON values and keys', () => {
    const value = {
      list: [`a ${token}`, 3, null, true],
      nested: { [token]: { url: `https://h/?t=${encodeURIComponent(token)}` } },
    };
    const redacted = redactor.value(value);
    expect(redacted.list).to.deep.equal([`a ${REDACTED}`, 3, null, true]);
    expect(Object.keys(redacted.nested)).to.deep.equal([REDACTED]);
    assertClean(JSON.stringify(redacted));
    expect(value.list[0]).to.equal(`a ${token}`);
  });

  it('replaces sensitive header values whatever they hold', () => {
    const redacted = redactor.value({ headers: { Authorization: 'Bearer other', 'X-Hub-Signature-256': 'sha256=00', Accept: '*/*' } });
    expect(redacted.headers).to.deep.equal({ Authorization: REDACTED, 'X-Hub-Signature-256': REDACTED, Accept: '*/*' });
  });

  it('keeps fields named like headers outside headers', () => {
    expect(redactor.value({ signature: 'plain data' })).to.deep.equal({ signature: 'plain data' });
  });

  it('treats regex characters in secrets literally', () => {
    const special = new Redactor(['tok(en)+x1.z']);
    expect(special.string('key tok(en)+x1.z end')).to.equal(`key ${REDACTED} end`);
    expect(special.string('key tokenx1.z end')).to.equal('key tokenx1.z end');
    expect(special.string('key tok(en)+x1Xz end')).to.equal('key tok(en)+x1Xz end');
  });

  it('keeps a __proto__ key as a plain field', () => {
    const input = JSON.parse(`{"__proto__": {"polluted": "${token}"}}`) as Record<string, unknown>;
    const redacted = redactor.value(input);
    expect(Object.getPrototypeOf(redacted)).to.equal(Object.prototype);
    expect(Object.keys(redacted)).to.deep.equal(['__proto__']);
    expect(JSON.stringify(redacted)).to.equal(`{"__proto__":{"polluted":"${REDACTED}"}}`);
  });

  it('replaces secrets in a Redactor without base64 cores', () => {
    const short = new Redactor(['abcd']);
    expect(short.string('x abcd y')).to.equal(`x ${REDACTED} y`);
    expect(short.string('x abce y')).to.equal('x abce y');
  });

  it('returns a clean value itself', () => {
    const clean = { status: 200, headers: { 'content-type': 'application/json' }, body: { hosts: ['a', 'b'] } };
    expect(redactor.value(clean)).to.equal(clean);
  });

  it('copies a value with a secret', () => {
    const dirty = { body: { note: `token ${token}` } };
    const redacted = redactor.value(dirty);
    expect(redacted).to.not.equal(dirty);
    expect(dirty.body.note).to.equal(`token ${token}`);
  });

  it('survives cycles', () => {
    const cyclic: Record<string, unknown> = { a: token };
    cyclic.self = cyclic;
    expect(redactor.value(cyclic)).to.deep.equal({ a: REDACTED, self: '[Circular]' });
  });

  it('keeps a shared object in every field that holds it', () => {
    const shared = { id: 1, note: token };
    const redacted = redactor.value({ first: shared, second: shared }) as Record<string, unknown>;
    expect(redacted).to.deep.equal({ first: { id: 1, note: REDACTED }, second: { id: 1, note: REDACTED } });
    expect(redacted.first).to.equal(redacted.second);
  });

  it('redacts a shared object under headers apart from its other uses', () => {
    const shared = { authorization: 'Bearer abc' };
    const redacted = redactor.value({ headers: { forwarded: shared }, body: shared }) as Record<string, Record<string, unknown>>;
    expect(redacted.body).to.deep.equal({ authorization: 'Bearer abc' });
    expect(redacted.headers.forwarded).to.deep.equal({ authorization: 'Bearer abc' });
    expect(redactor.value({ headers: shared, body: shared })).to.deep.equal({
      headers: { authorization: REDACTED },
      body: { authorization: 'Bearer abc' },
    });
  });

  it('copies a widely shared value in linear time', () => {
    let value: Record<string, unknown> = { leaf: token };
    // 2^64 paths lead to the leaf, but only 65 objects exist.
    for (let level = 0; level < 64; level += 1) value = { left: value, right: value };
    let redacted = redactor.value(value) as Record<string, unknown>;
    expect(redacted.left).to.equal(redacted.right);
    for (let level = 0; level < 64; level += 1) redacted = redacted.left as Record<string, unknown>;
    expect(redacted).to.deep.equal({ leaf: REDACTED });
  });

  it('redacts error messages, stacks and causes', () => {
    const error = new Error(`GET https://x/?t=${token} failed`, { cause: new Error(`auth ${token}`) });
    const described = redactor.error(error) as Record<string, unknown>;
    expect(described.message).to.equal(`GET https://x/?t=${REDACTED} failed`);
    expect((described.cause as Record<string, unknown>).message).to.equal(`auth ${REDACTED}`);
    assertClean(JSON.stringify(described));
  });
});

describe('createPinoOptions', () => {
  it('keeps every form of the secret out of log lines', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const redactor = new Redactor([token]);
    const log = pino(createPinoOptions(redactor), sink);
    const basic = `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`;

    log.info({ req: { headers: { authorization: basic, cookie: 'sid=1' } } }, 'incoming');
    log.info({ url: `https://x/?t=${encodeURIComponent(token)}` }, `message with ${token}`);
    log.error({ err: new Error(`failed with ${token}`) }, 'request failed');
    log.warn(`template %s`, Buffer.from(token).toString('base64'));

    expect(lines).to.have.length(4);
    for (const line of lines) assertClean(line);
    expect(JSON.parse(lines[0]).req.headers.authorization).to.equal(REDACTED);
    expect(JSON.parse(lines[1]).msg).to.equal(`message with ${REDACTED}`);
    expect(JSON.parse(lines[2]).err.message).to.equal(`failed with ${REDACTED}`);
  });
});
