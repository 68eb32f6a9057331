import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffCeiling, backoffDelay } from './backoff.ts';
import { fixedRandom, seededRandom } from './random-source.ts';

const rule = { initialBackoffMs: 100, maxBackoffMs: 1_000 };

describe('backoff ceiling', () => {
  const table: [number, number][] = [
    [0, 100],
    [1, 200],
    [2, 400],
    [3, 800],
    [4, 1_000],
    [10, 1_000],
    [1_000, 1_000],
  ];
  for (const [n, ceiling] of table) {
    it(`retry ${n} draws below ${ceiling} ms`, () => assert.equal(backoffCeiling(n, rule), ceiling));
  }

  it('is 0 when the rule has no backoff', () => {
    assert.equal(backoffCeiling(3, { initialBackoffMs: 0, maxBackoffMs: 1_000 }), 0);
    assert.equal(backoffCeiling(3, { initialBackoffMs: 100, maxBackoffMs: 0 }), 0);
  });

  it('a negative or fractional retry index is treated as the first retry / floored', () => {
    assert.equal(backoffCeiling(-3, rule), 100);
    assert.equal(backoffCeiling(1.7, rule), 200);
  });
});

describe('backoff delay (full jitter)', () => {
  it('the lowest draw waits 0 and the highest waits the whole ceiling', () => {
    assert.equal(backoffDelay(2, rule, fixedRandom(0)), 0);
    assert.equal(backoffDelay(2, rule, fixedRandom(0.9999999)), 400);
    assert.equal(backoffDelay(2, rule, fixedRandom(0.5)), 200);
  });

  it('always lands in [0, ceiling] in whole milliseconds, averaging half the ceiling', () => {
    const random = seededRandom(7);
    let sum = 0;
    const draws = 20_000;
    for (let i = 0; i < draws; i++) {
      const d = backoffDelay(3, rule, random);
      assert.ok(d >= 0 && d <= 800 && Number.isInteger(d));
      sum += d;
    }
    const mean = sum / draws;
    assert.ok(Math.abs(mean - 400) < 15, `mean ${mean}`);
  });
});
