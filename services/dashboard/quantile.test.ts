import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { quantile } from './quantile.ts';

function near(actual: number | null | undefined, expected: number): void {
  assert.ok(actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-9, `${String(actual)} is not ${expected}`);
}

const bounds = [0.1, 0.5, 1];

describe('quantile from cumulative buckets', () => {
  it('is null when nothing was observed', () => {
    assert.equal(quantile(0.5, bounds, [0, 0, 0, 0]), null);
    assert.equal(quantile(0.5, [], [3]), null);
  });

  it('interpolates linearly within the bucket the rank falls in', () => {
    // 10 observations, all in (0.1, 0.5]: the median is half way through that bucket.
    near(quantile(0.5, bounds, [0, 10, 10, 10]), 0.3);
    // 4 at or below 0.1, 4 more up to 0.5: rank 4 is the first bucket's top.
    assert.equal(quantile(0.5, bounds, [4, 8, 8, 8]), 0.1);
  });

  it('starts the first bucket at zero', () => {
    near(quantile(0.5, bounds, [10, 10, 10, 10]), 0.05);
  });

  it('answers the highest finite bound when the rank is past it (+Inf bucket), as Prometheus does', () => {
    assert.equal(quantile(0.99, bounds, [0, 0, 1, 10]), 1);
  });

  it('finds a high percentile in a long tail', () => {
    // 100 observations: 90 fast, 9 in (0.5, 1], 1 beyond.
    const p95 = quantile(0.95, bounds, [90, 90, 99, 100]);
    assert.ok(p95 !== null && p95 > 0.5 && p95 < 1, String(p95));
  });
});
