import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { expect } from 'chai';
import { BodyError, decodeBody, readBody, type BodyLimits } from '../../engine/security/body';
import { findJsonSyntaxProblem } from '../../engine/security/json-position';

async function decodeError(raw: Buffer | string, contentType?: string, contentEncoding?: string, limits?: BodyLimits): Promise<BodyError> {
  const buffer = typeof raw === 'string' ? Buffer.from(raw) : raw;
  try {
    await decodeBody(buffer, { contentType, contentEncoding }, limits);
  } catch (error) {
    expect(error).to.be.instanceOf(BodyError);
    return error as BodyError;
  }
  throw new Error('expected decodeBody to fail');
}

describe('decodeBody', () => {
  it('parses JSON with a charset parameter', async () => {
    const decoded = await decodeBody(Buffer.from('{"a":1}'), { contentType: 'application/json; charset=UTF-8' });
    expect(decoded.kind).to.equal('json');
    expect(decoded.value).to.deep.equal({ a: 1 });
  });

  it('parses application/*+json types', async () => {
    const decoded = await decodeBody(Buffer.from('[1,2]'), { contentType: 'application/vnd.api+json' });
    expect(decoded.value).to.deep.equal([1, 2]);
  });

  it('decodes a latin-1 JSON body', async () => {
    const decoded = await decodeBody(Buffer.from('{"name":"Jos\xe9"}', 'latin1'), {
      contentType: 'application/json; charset="ISO-8859-1"',
    });
    expect(decoded.value).to.deep.equal({ name: 'José' });
  });

  it('strips a UTF-8 byte order mark', async () => {
    const raw = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":true}')]);
    expect((await decodeBody(raw, { contentType: 'application/json' })).value).to.deep.equal({ a: true });
  });

  it('parses form bodies with repeated fields', async () => {
    const decoded = await decodeBody(Buffer.from('a=1&b=x+y&a=2&a=3'), { contentType: 'application/x-www-form-urlencoded' });
    expect(decoded.kind).to.equal('form');
    expect(decoded.value).to.deep.equal({ a: ['1', '2', '3'], b: 'x y' });
  });

  it('keeps a form field named __proto__ as data', async () => {
    const decoded = await decodeBody(Buffer.from('__proto__=x&__proto__=y'), {
      contentType: 'application/x-www-form-urlencoded',
    });
    const value = decoded.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).to.equal(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).to.deep.equal(['x', 'y']);
  });

  it('returns text bodies as strings', async () => {
    const decoded = await decodeBody(Buffer.from('hello'), { contentType: 'text/plain' });
    expect(decoded).to.include({ kind: 'text', value: 'hello', mediaType: 'text/plain' });
  });

  it('accepts an empty body of any type', async () => {
    expect((await decodeBody(Buffer.alloc(0), {})).kind).to.equal('empty');
    expect((await decodeBody(Buffer.alloc(0), { contentType: 'application/pdf' })).value).to.equal(null);
  });

  it('keeps the raw bytes for signatures', async () => {
    const raw = zlib.gzipSync('{"a":1}');
    const decoded = await decodeBody(raw, { contentType: 'application/json', contentEncoding: 'gzip' });
    expect(decoded.raw.equals(raw)).to.equal(true);
    expect(decoded.value).to.deep.equal({ a: 1 });
  });

  it('inflates gzip, deflate, raw deflate and br', async () => {
    const text = '{"ok":1}';
    const cases: Array<[string, Buffer]> = [
      ['gzip', zlib.gzipSync(text)],
      ['x-gzip', zlib.gzipSync(text)],
      ['deflate', zlib.deflateSync(text)],
      ['deflate', zlib.deflateRawSync(text)],
      ['br', zlib.brotliCompressSync(text)],
      ['identity', Buffer.from(text)],
    ];
    for (const [encoding, raw] of cases) {
      const decoded = await decodeBody(raw, { contentType: 'application/json', contentEncoding: encoding });
      expect(decoded.value, encoding).to.deep.equal({ ok: 1 });
    }
  });

  it('answers 413 to a gzip bomb', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
    expect(bomb.length).to.be.lessThan(100 * 1024);
    const error = await decodeError(bomb, 'application/json', 'gzip', { maxBytes: 1024 * 1024 });
    expect(error.status).to.equal(413);
    expect(error.message).to.equal(
      'The request body is too large: this webhook accepts at most 1048576 bytes ' +
        '(the gzip body inflates past the limit); send a smaller body or raise max_body_bytes on the webhook action.',
    );
  });

  it('answers 413 when the raw body is over the limit', async () => {
    const error = await decodeError('x'.repeat(11), 'text/plain', undefined, { maxBytes: 10 });
    expect(error.status).to.equal(413);
    expect(error.code).to.equal('payload_too_large');
  });

  it('answers 400 to corrupt gzip data', async () => {
    const error = await decodeError('not gzip', 'application/json', 'gzip');
    expect(error.status).to.equal(400);
    expect(error.message).to.match(/^The request body is not valid gzip data \(.+\); check Content-Encoding\.$/);
  });

  it('answers 415 to an unknown encoding', async () => {
    const error = await decodeError('x', 'application/json', 'compress');
    expect(error.status).to.equal(415);
    expect(error.message).to.equal(
      'Content-Encoding "compress" is not supported; send gzip, deflate, br or an uncompressed body.',
    );
  });

  it('answers 415 to stacked encodings', async () => {
    const error = await decodeError('x', 'application/json', 'gzip, gzip, gzip');
    expect(error.status).to.equal(415);
    expect(error.message).to.equal('Content-Encoding "gzip, gzip, gzip" stacks 3 encodings; at most 2 are accepted.');
  });

  it('answers 415 to an unsupported type', async () => {
    const error = await decodeError('<a/>', 'application/xml');
    expect(error.status).to.equal(415);
    expect(error.message).to.equal(
      'Content-Type "application/xml" is not supported; send application/json, application/x-www-form-urlencoded or text/plain.',
    );
  });

  it('answers 415 to a body without type', async () => {
    const error = await decodeError('{}');
    expect(error.status).to.equal(415);
    expect(error.message).to.equal('The request has a body but no Content-Type; send Content-Type: application/json.');
  });

  it('answers 415 to an unknown charset', async () => {
    const error = await decodeError('{}', 'application/json; charset=klingon');
    expect(error.status).to.equal(415);
    expect(error.message).to.equal('charset "klingon" is not supported; send UTF-8 and declare charset=utf-8.');
  });

  it('answers 400 to invalid UTF-8', async () => {
    const error = await decodeError(Buffer.from([0x22, 0xff, 0xfe, 0x22]), 'application/json');
    expect(error.status).to.equal(400);
    expect(error.message).to.equal('The request body is not valid utf-8; check the charset in Content-Type.');
  });

  it('answers 400 with line and column to malformed JSON', async () => {
    const error = await decodeError('{\n  "host_id": 1,\n  "name": }', 'application/json');
    expect(error.status).to.equal(400);
    expect(error.position).to.deep.equal({ line: 3, col: 11, offset: 28 });
    expect(error.message).to.equal(
      'The request body is not valid JSON at line 3, column 11 (offset 28): unexpected "}", expected a value.',
    );
  });

  it('answers 400 to JSON nested too deep', async () => {
    const error = await decodeError('['.repeat(100_000), 'application/json', undefined, { maxDepth: 64 });
    expect(error.status).to.equal(400);
    expect(error.message).to.equal('The JSON body nests arrays and objects deeper than 64 levels; flatten the payload.');
  });

  it('ignores brackets inside strings when measuring depth', async () => {
    const decoded = await decodeBody(Buffer.from(JSON.stringify({ s: '[[[[[[[[[[\\"' })), { contentType: 'application/json' }, { maxDepth: 2 });
    expect(decoded.value).to.deep.equal({ s: '[[[[[[[[[[\\"' });
  });
});

describe('findJsonSyntaxProblem', () => {
  const cases: Array<[string, number, string]> = [
    ['', 0, 'unexpected end of input, expected a value'],
    ['{"a":1,}', 7, 'unexpected "}", expected a property name in double quotes'],
    ['[1,]', 3, 'unexpected "]", expected a value'],
    ['{"a" 1}', 5, 'unexpected "1", expected ":" after the property name'],
    ['{"a":1 "b":2}', 7, 'unexpected "\\"", expected "," or "}"'],
    ['[1 2]', 3, 'unexpected "2", expected "," or "]"'],
    ['"abc', 4, 'unterminated string'],
    ['"a\\x"', 2, 'invalid escape "\\\\x" inside a string'],
    ['"a\\u12"', 2, 'invalid \\u escape, expected 4 hex digits'],
    ['"a\tb"', 2, 'control character inside a string; escape it'],
    ['{"a":1} x', 8, 'unexpected "x" after the end of the JSON value'],
    ['{"a":tru}', 5, 'unexpected "t", expected a value'],
    ['-', 0, 'unexpected "-", expected a value'],
    ['{"a":[1,2', 9, 'unexpected end of input, expected "," or "]"'],
    ["{'a':1}", 1, 'unexpected "\'", expected a property name in double quotes'],
  ];
  for (const [text, offset, detail] of cases) {
    it(`locates ${JSON.stringify(text)}`, () => {
      const problem = findJsonSyntaxProblem(text);
      expect(problem?.offset).to.equal(offset);
      expect(problem?.detail).to.equal(detail);
    });
  }

  it('accepts valid JSON', () => {
    expect(findJsonSyntaxProblem(' {"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"]} ')).to.equal(undefined);
  });
});

describe('readBody', () => {
  let server: http.Server;
  let port: number;
  let lastResult: { status: number; body: unknown } | undefined;

  before(async () => {
    server = http.createServer((request, response) => {
      readBody(request, { maxBytes: 1024 }).then(
        (decoded) => {
          lastResult = { status: 200, body: decoded.value };
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(decoded.value));
        },
        (error: BodyError) => {
          lastResult = { status: error.status, body: error.message };
          const failure = error.toResponse();
          response.writeHead(failure.status, { 'content-type': 'application/json', connection: 'close' });
          response.end(JSON.stringify(failure.body));
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    server.close();
  });

  function post(body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  it('reads a JSON body from a real request', async () => {
    const answer = await post('{"x":[1]}', { 'content-type': 'application/json' });
    expect(answer.status).to.equal(200);
    expect(JSON.parse(answer.text)).to.deep.equal({ x: [1] });
  });

  it('answers 413 from Content-Length before reading', async () => {
    const answer = await post('a'.repeat(2000), { 'content-type': 'text/plain' });
    expect(answer.status).to.equal(413);
    expect(JSON.parse(answer.text).error).to.equal('payload_too_large');
    expect(lastResult?.body).to.include('Content-Length is 2000 bytes');
  });

  it('answers 413 to a chunked body over the limit', async () => {
    const answer = await post('a'.repeat(2000), { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    expect(answer.status).to.equal(413);
    expect(lastResult?.body).to.include('more than 1024 bytes were sent');
  });

  it('answers 400 as JSON to malformed JSON', async () => {
    const answer = await post('{"a":', { 'content-type': 'application/json' });
    expect(answer.status).to.equal(400);
    expect(JSON.parse(answer.text)).to.deep.equal({
      error: 'invalid_json',
      message: 'The request body is not valid JSON at line 1, column 6 (offset 5): unexpected end of input, expected a value.',
    });
  });
});
