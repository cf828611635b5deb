import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import {
  checkSignatureAlgorithm,
  constantTimeEqual,
  unauthorizedResponse,
  verifySecret,
  verifySignature,
  verifyWebhook,
  type AuthOutcome,
} from '../../engine/security/webhook-auth';

const body = Buffer.from('{"host_id":1}');
const signingKey = 'hmac-key-for-tests';

function sign(payload: string | Buffer, algorithm = 'sha256', key = signingKey): string {
  return createHmac(algorithm, key).update(payload).digest('hex');
}

function reasonOf(outcome: AuthOutcome): string {
  expect(outcome.ok, 'expected the check to fail').to.equal(false);
  return (outcome as { reason: string }).reason;
}

describe('constantTimeEqual', () => {
  it('accepts equal values', () => {
    expect(constantTimeEqual('abc', 'abc')).to.equal(true);
  });

  it('rejects values of other lengths', () => {
    expect(constantTimeEqual('abc', 'abcd')).to.equal(false);
    expect(constantTimeEqual('', 'a')).to.equal(false);
  });

  it('compares buffers and strings alike', () => {
    expect(constantTimeEqual(Buffer.from('xyz'), 'xyz')).to.equal(true);
  });
});

describe('verifySecret', () => {
  const pathCheck = { secret: 's3cret-path-value', location: { in: 'path' as const } };
  const headerCheck = { secret: 's3cret-header-value', location: { in: 'header' as const, header: 'X-Webhook-Secret' } };

  it('accepts the secret as last path segment', () => {
    expect(verifySecret(pathCheck, { headers: {}, rawBody: body, pathSecret: 's3cret-path-value' })).to.deep.equal({ ok: true });
  });

  it('rejects a wrong path segment', () => {
    const reason = reasonOf(verifySecret(pathCheck, { headers: {}, rawBody: body, pathSecret: 'guess' }));
    expect(reason).to.equal('webhook secret in the path segment does not match');
  });

  it('rejects a missing path segment', () => {
    const reason = reasonOf(verifySecret(pathCheck, { headers: {}, rawBody: body }));
    expect(reason).to.equal('webhook secret missing from the path segment');
  });

  it('accepts the secret in a header of any case', () => {
    const outcome = verifySecret(headerCheck, { headers: { 'x-webhook-secret': 's3cret-header-value' }, rawBody: body });
    expect(outcome).to.deep.equal({ ok: true });
  });

  it('rejects a header sent twice', () => {
    const headers = { 'x-webhook-secret': ['s3cret-header-value', 's3cret-header-value'] };
    expect(reasonOf(verifySecret(headerCheck, { headers, rawBody: body }))).to.equal('header x-webhook-secret sent more than once');
  });

  it('never puts the secret in the reason', () => {
    const reason = reasonOf(verifySecret(headerCheck, { headers: { 'x-webhook-secret': 'wrong' }, rawBody: body }));
    expect(reason).to.not.include('s3cret-header-value');
    expect(reason).to.not.include('wrong');
  });
});

describe('verifySignature', () => {
  const check = { secret: signingKey, header: 'X-Hub-Signature-256' };

  it('accepts a sha256= hex signature of the raw body', () => {
    const headers = { 'x-hub-signature-256': `sha256=${sign(body)}` };
    expect(verifySignature(check, { headers, rawBody: body })).to.deep.equal({ ok: true });
  });

  it('accepts upper-case hex digests', () => {
    const headers = { 'x-hub-signature-256': `sha256=${sign(body).toUpperCase()}` };
    expect(verifySignature(check, { headers, rawBody: body })).to.deep.equal({ ok: true });
  });

  it('rejects a signature of another body', () => {
    const headers = { 'x-hub-signature-256': `sha256=${sign('{"host_id":2}')}` };
    expect(reasonOf(verifySignature(check, { headers, rawBody: body }))).to.equal(
      'signature in header x-hub-signature-256 does not match the body',
    );
  });

  it('rejects a body changed by one byte', () => {
    const headers = { 'x-hub-signature-256': `sha256=${sign(body)}` };
    const changed = Buffer.from('{"host_id":1 }');
    expect(verifySignature(check, { headers, rawBody: changed }).ok).to.equal(false);
  });

  it('rejects a missing prefix', () => {
    const headers = { 'x-hub-signature-256': sign(body) };
    expect(reasonOf(verifySignature(check, { headers, rawBody: body }))).to.equal(
      'signature header x-hub-signature-256 does not start with "sha256="',
    );
  });

  it('rejects a missing header', () => {
    expect(reasonOf(verifySignature(check, { headers: {}, rawBody: body }))).to.equal(
      'signature header x-hub-signature-256 missing',
    );
  });

  it('supports sha512 with base64 and no prefix', () => {
    const custom = { secret: signingKey, header: 'x-sig', algorithm: 'sha512', prefix: '', encoding: 'base64' as const };
    const signature = createHmac('sha512', signingKey).update(body).digest('base64');
    expect(verifySignature(custom, { headers: { 'x-sig': signature }, rawBody: body })).to.deep.equal({ ok: true });
  });

  describe('with a timestamp header', () => {
    const timed = { ...check, timestampHeader: 'X-Timestamp', toleranceSeconds: 300 };
    const now = 1_800_000_000_000;
    const seconds = String(now / 1000);

    it('accepts a fresh timestamp bound into the signature', () => {
      const headers = { 'x-timestamp': seconds, 'x-hub-signature-256': `sha256=${sign(`${seconds}.${body}`)}` };
      expect(verifySignature(timed, { headers, rawBody: body, now })).to.deep.equal({ ok: true });
    });

    it('accepts millisecond timestamps', () => {
      const millis = String(now);
      const headers = { 'x-timestamp': millis, 'x-hub-signature-256': `sha256=${sign(`${millis}.${body}`)}` };
      expect(verifySignature(timed, { headers, rawBody: body, now })).to.deep.equal({ ok: true });
    });

    it('rejects a timestamp outside the tolerance', () => {
      const old = String(now / 1000 - 301);
      const headers = { 'x-timestamp': old, 'x-hub-signature-256': `sha256=${sign(`${old}.${body}`)}` };
      expect(reasonOf(verifySignature(timed, { headers, rawBody: body, now }))).to.equal(
        'timestamp in header x-timestamp is 301 s away from now, more than the tolerance of 300 s',
      );
    });

    it('rejects a replayed signature with a new timestamp', () => {
      const headers = { 'x-timestamp': seconds, 'x-hub-signature-256': `sha256=${sign(body)}` };
      expect(verifySignature(timed, { headers, rawBody: body, now }).ok).to.equal(false);
    });

    it('rejects a timestamp that is not digits', () => {
      const headers = { 'x-timestamp': '2026-12-04T10:00:00Z', 'x-hub-signature-256': 'sha256=00' };
      expect(reasonOf(verifySignature(timed, { headers, rawBody: body, now }))).to.equal(
        'timestamp header x-timestamp is not a Unix time in digits',
      );
    });

    it('rejects a missing timestamp', () => {
      const headers = { 'x-hub-signature-256': `sha256=${sign(body)}` };
      expect(reasonOf(verifySignature(timed, { headers, rawBody: body, now }))).to.equal('timestamp header x-timestamp missing');
    });
  });
});

describe('verifyWebhook', () => {
  const config = {
    secret: { secret: 'path-secret-value', location: { in: 'path' as const } },
    signature: { secret: signingKey, header: 'x-signature' },
  };

  it('requires both secret and signature', () => {
    const headers = { 'x-signature': `sha256=${sign(body)}` };
    expect(verifyWebhook(config, { headers, rawBody: body, pathSecret: 'path-secret-value' })).to.deep.equal({ ok: true });
    expect(verifyWebhook(config, { headers, rawBody: body, pathSecret: 'other' }).ok).to.equal(false);
    expect(verifyWebhook(config, { headers: {}, rawBody: body, pathSecret: 'path-secret-value' }).ok).to.equal(false);
  });

  it('accepts everything when nothing is configured', () => {
    expect(verifyWebhook({}, { headers: {}, rawBody: body })).to.deep.equal({ ok: true });
  });
});

describe('unauthorizedResponse', () => {
  it('is one generic 401 body', () => {
    const answer = unauthorizedResponse();
    expect(answer.status).to.equal(401);
    expect(answer.body.error).to.equal('unauthorized');
    expect(answer.body.message).to.not.match(/signature|timestamp|path|header/i);
  });
});

describe('checkSignatureAlgorithm', () => {
  it('knows sha256', () => {
    expect(checkSignatureAlgorithm('sha256')).to.equal(undefined);
  });

  it('names the choices for an unknown algorithm', () => {
    expect(checkSignatureAlgorithm('sha999')).to.equal('unknown HMAC algorithm "sha999"; use one of sha1, sha256, sha384, sha512');
  });
});
