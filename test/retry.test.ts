import { expect } from 'chai';
import { MAX_RETRY_AFTER_MS, planRetry, retryDelay, retryPolicy } from '../engine/retry';
import { ActionError } from '../engine/types';

const unavailable = (retryAfterMs?: number) =>
  new ActionError('GET http://127.0.0.1/x returned 503: busy', { retryable: true, retryAfterMs });

describe('retryPolicy', function () {
  it('defaults to idempotent methods', function () {
    const policy = retryPolicy(undefined);
    expect(policy.attempts).to.equal(3);
    expect(policy.backoffMs).to.equal(1000);
    expect(policy.maxBackoffMs).to.equal(300_000);
    expect([...policy.methods]).to.deep.equal(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
  });

  it('reads the written fields', function () {
    const policy = retryPolicy({ attempts: 5, backoff: 0.5, max_backoff: 10, methods: ['POST'] });
    expect(policy.attempts).to.equal(5);
    expect(policy.backoffMs).to.equal(500);
    expect(policy.maxBackoffMs).to.equal(10_000);
    expect([...policy.methods]).to.deep.equal(['POST']);
  });
});

describe('retryDelay', function () {
  const policy = retryPolicy({ backoff: 1, max_backoff: 5 });

  it('doubles each attempt within jitter', function () {
    expect(retryDelay(policy, 1, undefined, () => 0)).to.equal(500);
    expect(retryDelay(policy, 1, undefined, () => 1)).to.equal(1000);
    expect(retryDelay(policy, 2, undefined, () => 0)).to.equal(1000);
    expect(retryDelay(policy, 3, undefined, () => 1)).to.equal(4000);
  });

  it('caps at max_backoff', function () {
    expect(retryDelay(policy, 10, undefined, () => 1)).to.equal(5000);
  });

  it('uses Retry-After instead', function () {
    expect(retryDelay(policy, 1, 7000, () => 1)).to.equal(7000);
    expect(retryDelay(policy, 1, 0, () => 1)).to.equal(0);
  });

  it('caps Retry-After at one hour', function () {
    expect(retryDelay(policy, 1, 10 * MAX_RETRY_AFTER_MS)).to.equal(MAX_RETRY_AFTER_MS);
  });
});

describe('planRetry', function () {
  const policy = retryPolicy({ attempts: 3, backoff: 1 });

  it('schedules a retryable GET', function () {
    const plan = planRetry(policy, 'GET', unavailable(2000), 1, 1_000_000);
    expect(plan.retry).to.equal(true);
    expect(plan.retry && plan.retryAt).to.equal(1_002_000);
    expect(plan.reason).to.equal(
      'GET http://127.0.0.1/x returned 503: busy (attempt 1 of 3, next in 2000 ms)',
    );
  });

  it('stops after the last attempt', function () {
    const plan = planRetry(policy, 'GET', unavailable(), 3, 0);
    expect(plan).to.deep.equal({
      retry: false,
      reason: 'GET http://127.0.0.1/x returned 503: busy (gave up after 3 attempts)',
    });
  });

  it('skips POST unless listed', function () {
    const plan = planRetry(policy, 'POST', unavailable(), 1, 0);
    expect(plan).to.deep.equal({
      retry: false,
      reason:
        'GET http://127.0.0.1/x returned 503: busy (not retried: POST is not in retry.methods)',
    });
    const withPost = retryPolicy({ methods: ['POST'] });
    expect(planRetry(withPost, 'POST', unavailable(), 1, 0).retry).to.equal(true);
  });

  it('skips errors that are not retryable', function () {
    const notFound = new ActionError('GET http://127.0.0.1/x returned 404: no host');
    expect(planRetry(policy, 'GET', notFound, 1, 0)).to.deep.equal({
      retry: false,
      reason: 'GET http://127.0.0.1/x returned 404: no host',
    });
    expect(planRetry(policy, 'GET', new Error('bug'), 1, 0)).to.deep.equal({
      retry: false,
      reason: 'bug',
    });
  });
});
