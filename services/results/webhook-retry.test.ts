import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelayMs, tryOutcome } from './webhook-retry.ts';

describe('webhook try outcome', () => {
  it('delivers on any 2xx', () => {
    for (const status of [200, 201, 202, 204, 299]) assert.equal(tryOutcome(status), 'delivered');
  });

  it('takes a 4xx as final, except 408 and 429', () => {
    for (const status of [400, 401, 403, 404, 410, 413, 422]) assert.equal(tryOutcome(status), 'rejected');
    assert.equal(tryOutcome(408), 'retry');
    assert.equal(tryOutcome(429), 'retry');
  });

  it('retries server errors, redirects and no answer at all', () => {
    for (const status of [500, 502, 503, 504, 301, 302, 100]) assert.equal(tryOutcome(status), 'retry');
    assert.equal(tryOutcome(undefined), 'retry');
  });
});

describe('webhook retry delay', () => {
  const backoff = { initialBackoffMs: 1_000, maxBackoffMs: 300_000 };
  const noJitter = (): number => 0;

  it('doubles from the initial backoff per failed try, up to the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 9, 10, 50, 2_000].map((tries) => retryDelayMs(tries, backoff, noJitter)),
      [1_000, 2_000, 4_000, 8_000, 256_000, 300_000, 300_000, 300_000],
    );
  });

  it('takes at most half off at random', () => {
    assert.equal(retryDelayMs(3, backoff, () => 0.5), 3_000);
    for (const r of [0, 0.25, 0.5, 0.75, 0.999_999]) {
      const delay = retryDelayMs(3, backoff, () => r);
      assert.ok(delay >= 2_000 && delay <= 4_000, `${delay} ms for random ${r}`);
    }
  });

  it("waits at least the receiver's Retry-After, but never past the cap", () => {
    assert.equal(retryDelayMs(1, backoff, noJitter, 30_000), 30_000);
    assert.equal(retryDelayMs(1, backoff, noJitter, 3_600_000), 300_000);
    assert.equal(retryDelayMs(5, backoff, noJitter, 10), 16_000);
  });
});
