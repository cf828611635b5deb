import { expect } from 'chai';
import { newId } from '../engine/ids';

const VERSION_7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newId', () => {
  it('returns UUID version 7 text', () => {
    for (let index = 0; index < 1000; index += 1) expect(newId()).to.match(VERSION_7);
  });

  it('starts with the time in milliseconds', () => {
    const now = Date.UTC(2026, 11, 4, 19, 0, 0, 123);
    const hex = newId(now).replace(/-/g, '').slice(0, 12);
    expect(parseInt(hex, 16)).to.equal(now);
  });

  it('sorts ids of later milliseconds after earlier ones', () => {
    const earlier = newId(1_800_000_000_000);
    const later = newId(1_800_000_000_001);
    expect(earlier < later).to.equal(true);
  });

  it('never repeats within many ids', () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => newId(1_800_000_000_000)));
    expect(ids.size).to.equal(20_000);
  });
});
