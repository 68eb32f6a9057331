import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { comparePairs, median, percentile, subtractUpstream, summarize } from './percentiles.ts';

describe('percentile (nearest rank)', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('picks the value at or above p% of the sample', () => {
    assert.equal(percentile(oneToHundred, 50), 50);
    assert.equal(percentile(oneToHundred, 90), 90);
    assert.equal(percentile(oneToHundred, 99), 99);
    assert.equal(percentile(oneToHundred, 100), 100);
  });

  it('never interpolates: a tail of one slow request shows at p100, not smeared into p99', () => {
    const values = [...Array.from({ length: 99 }, () => 1), 500];
    assert.equal(percentile(values, 99), 1);
    assert.equal(percentile(values, 100), 500);
  });

  it('handles the edges: one value, p0, empty', () => {
    assert.equal(percentile([7], 50), 7);
    assert.equal(percentile([1, 2, 3], 0), 1);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('summarize sorts numerically, not as strings', () => {
    const s = summarize([10, 9, 100, 1]);
    assert.deepEqual(s, { count: 4, p50: 9, p90: 100, p99: 100, p100: 100 });
  });
});

describe('median over pairs', () => {
  it('takes the middle of an odd count and the mean of the middle two of an even count', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('ignores NaN from runs that produced no samples', () => {
    assert.equal(median([Number.NaN, 2, 4]), 3);
    assert.ok(Number.isNaN(median([])));
  });
});

describe('comparePairs', () => {
  const run = (p50: number, p99: number): ReturnType<typeof summarize> => ({ count: 1, p50, p90: p50, p99, p100: p99 });

  it('reports the median of the per-pair differences, which need not equal the difference of the medians', () => {
    const pairs = [
      { subject: run(3, 40), baseline: run(1, 10) },
      { subject: run(4, 12), baseline: run(2, 11) },
      { subject: run(9, 50), baseline: run(8, 45) },
    ];
    const p99 = comparePairs(pairs).find((r) => r.percentile === 99);
    assert.ok(p99);
    assert.equal(p99.subject, 40);
    assert.equal(p99.baseline, 11);
    assert.deepEqual(p99.differences, [30, 1, 5]);
    assert.equal(p99.difference, 5);
  });

  it('reports every reported percentile, in order', () => {
    assert.deepEqual(comparePairs([{ subject: run(1, 2), baseline: run(1, 2) }]).map((r) => r.percentile), [50, 90, 99, 100]);
  });
});

describe('subtractUpstream', () => {
  it('removes the configured upstream latency from every percentile and keeps the count', () => {
    assert.deepEqual(subtractUpstream({ count: 3, p50: 21, p90: 25, p99: 40, p100: 90 }, 20), { count: 3, p50: 1, p90: 5, p99: 20, p100: 70 });
  });
});
