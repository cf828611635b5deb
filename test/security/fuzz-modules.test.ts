/**
 * Property tests of the security modules with random and mutated input. `npm test` runs a few
 * hundred cases with a fixed seed; `npm run fuzz` sets FUZZ_RUNS (and optionally FUZZ_SEED)
 * for a longer run.
 */
import * as zlib from 'node:zlib';
import { expect } from 'chai';
import fc from 'fast-check';
import { classifyAddress } from '../../engine/security/addresses';
import { BodyError, decodeBody } from '../../engine/security/body';
import { findJsonSyntaxProblem } from '../../engine/security/json-position';
import { REDACTED, Redactor } from '../../engine/security/redact';
import { verifyWebhook } from '../../engine/security/webhook-auth';
import { fuzzSettings, mutatedJson } from './fuzz-settings';

const contentTypes = fc.constantFrom(
  undefined,
  '',
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=bogus',
  'application/merge-patch+json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'text/html; charset=utf-16le',
  'application/xml',
  'multipart/form-data; boundary=x',
  ';;;',
  'application/json;charset',
);
const contentEncodings = fc.constantFrom(undefined, '', 'gzip', 'deflate', 'br', 'identity', 'gzip, br', 'zstd', 'gzip,gzip,gzip');

describe('fuzz security modules', () => {
  it('decodeBody answers random bytes with data or a BodyError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), contentTypes, contentEncodings, async (bytes, type, encoding) => {
        try {
          const decoded = await decodeBody(Buffer.from(bytes), { contentType: type, contentEncoding: encoding }, { maxBytes: 4096 });
          expect(['json', 'form', 'text', 'empty']).to.include(decoded.kind);
        } catch (error) {
          expect(error).to.be.instanceOf(BodyError);
          expect([400, 413, 415]).to.include((error as BodyError).status);
          expect((error as BodyError).message).to.not.equal('');
        }
      }),
      fuzzSettings,
    );
  });

  it('decodeBody answers mutated compressed JSON', async () => {
    await fc.assert(
      fc.asyncProperty(mutatedJson, fc.constantFrom('gzip', 'deflate', 'br'), fc.nat(), async (text, encoding, flip) => {
        const compress = { gzip: zlib.gzipSync, deflate: zlib.deflateSync, br: zlib.brotliCompressSync }[encoding];
        const raw = Buffer.from(compress(Buffer.from(text)));
        raw[flip % raw.length] ^= 0x5a;
        try {
          await decodeBody(raw, { contentType: 'application/json', contentEncoding: encoding });
        } catch (error) {
          expect(error).to.be.instanceOf(BodyError);
        }
      }),
      fuzzSettings,
    );
  });

  it('decodeBody round-trips JSON values', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 5 }), async (value) => {
        const text = JSON.stringify(value);
        const decoded = await decodeBody(Buffer.from(text), { contentType: 'application/json' });
        expect(decoded.value).to.deep.equal(JSON.parse(text));
      }),
      fuzzSettings,
    );
  });

  it('findJsonSyntaxProblem agrees with JSON.parse', () => {
    fc.assert(
      fc.property(mutatedJson, (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        const problem = findJsonSyntaxProblem(text);
        expect(problem === undefined, `${JSON.stringify(text)}: ${problem?.detail}`).to.equal(valid);
        if (problem !== undefined) expect(problem.offset).to.be.within(0, text.length);
      }),
      fuzzSettings,
    );
  });

  it('verifyWebhook never throws on random headers', () => {
    const header = fc.option(fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 })), { nil: undefined });
    fc.assert(
      fc.property(header, header, header, fc.uint8Array({ maxLength: 64 }), (secret, signature, timestamp, body) => {
        const outcome = verifyWebhook(
          {
            secret: { secret: 'the-secret', location: { in: 'header', header: 'x-secret' } },
            signature: { secret: 'the-key', header: 'x-sig', timestampHeader: 'x-ts' },
          },
          { headers: { 'x-secret': secret, 'x-sig': signature, 'x-ts': timestamp }, rawBody: Buffer.from(body) },
        );
        expect(outcome.ok).to.equal(false);
      }),
      fuzzSettings,
    );
  });

  it('Redactor leaves no form of a random secret', () => {
    const secretChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/=:@ !'.split(''));
    const secrets = fc.string({ unit: secretChars, minLength: 6, maxLength: 40 });
    fc.assert(
      fc.property(secrets, fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.string({ maxLength: 5 }), (secret, before, after, user) => {
        const redactor = new Redactor([secret]);
        const forms = [
          secret,
          encodeURIComponent(secret),
          Buffer.from(secret).toString('base64'),
          Buffer.from(`${user}:${secret}`).toString('base64'),
          Buffer.from(`${secret}:`).toString('base64url'),
        ];
        for (const form of forms) {
          const output = redactor.string(`${before} ${form} ${after}`);
          expect(output, `form ${form}`).to.include(REDACTED);
          expect(output, `form ${form}`).to.not.include(form);
        }
      }),
      fuzzSettings,
    );
  });

  it('classifyAddress handles every IPv4 and IPv6 address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (address) => {
        const info = classifyAddress(address);
        expect(info.category).to.be.a('string');
      }),
      fuzzSettings,
    );
  });
});
