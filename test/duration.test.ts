import { expect } from 'chai';
import { parseDuration, parseSince } from '../engine/duration';

describe('parseDuration', function () {
  it('reads each unit', function () {
    expect(parseDuration('250ms', '--keep')).to.equal(250);
    expect(parseDuration('90s', '--keep')).to.equal(90_000);
    expect(parseDuration('15m', '--keep')).to.equal(900_000);
    expect(parseDuration('1h', '--keep')).to.equal(3_600_000);
    expect(parseDuration('30d', '--keep')).to.equal(30 * 86_400_000);
    expect(parseDuration('2w', '--keep')).to.equal(14 * 86_400_000);
    expect(parseDuration('1.5h', '--keep')).to.equal(5_400_000);
  });

  it('rejects a missing unit', function () {
    expect(() => parseDuration('30', '--keep')).to.throw(
      'invalid --keep value "30": expected a number and a unit (ms, s, m, h, d, w), ' +
        'such as 30d or 1h',
    );
  });

  it('rejects a zero duration', function () {
    expect(() => parseDuration('0d', '--keep')).to.throw(
      'invalid --keep value "0d": the duration must be positive',
    );
  });
});

describe('parseSince', function () {
  it('counts a duration back from now', function () {
    expect(parseSince('1h', 10_000_000)).to.equal(10_000_000 - 3_600_000);
  });

  it('reads an ISO date', function () {
    expect(parseSince('2026-01-31T12:00:00Z')).to.equal(Date.UTC(2026, 0, 31, 12));
  });

  it('rejects other text', function () {
    expect(() => parseSince('yesterday')).to.throw(
      'invalid --since value "yesterday": expected a duration such as 1h or 7d, ' +
        'or an ISO date such as 2026-01-31T12:00:00Z',
    );
  });
});
