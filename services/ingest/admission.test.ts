import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import type { Client } from '#libs/http/client-auth.ts';
import type { KeyRecord } from '#libs/governance/accounts.ts';
import type { Admission, AdmitInput, Meter, UsageCharge } from '#libs/governance/meter.ts';
import type { Period } from '#libs/governance/periods.ts';
import { meteredSubjects } from '#libs/governance/terms.ts';
import { createMetrics, type Metrics } from '#libs/telemetry/metrics.ts';
import { admit, rateLimitHeaders, refusalError, resetDuration } from './admission.ts';

type Refusal = Extract<Admission, { admitted: false }>;

describe('resetDuration', () => {
  it('writes waits under a second in whole milliseconds, rounded up', () => {
    assert.equal(resetDuration(0), '0ms');
    assert.equal(resetDuration(20), '20ms');
    assert.equal(resetDuration(999), '999ms');
    assert.equal(resetDuration(0.2), '1ms', 'a wait that is not over is never written as 0ms');
  });

  it('writes a negative wait (a window already free) as 0ms', () => {
    assert.equal(resetDuration(-5), '0ms');
  });

  it('writes waits under a minute in seconds, with a fraction only when there is one', () => {
    assert.equal(resetDuration(1000), '1s');
    assert.equal(resetDuration(1500), '1.5s');
    assert.equal(resetDuration(59_250), '59.25s');
  });

  it('writes a minute or more as minutes and seconds, seconds always present', () => {
    assert.equal(resetDuration(60_000), '1m0s');
    assert.equal(resetDuration(61_500), '1m1.5s');
    assert.equal(resetDuration(360_000), '6m0s');
  });
});

describe('rateLimitHeaders', () => {
  it('gives limit, remaining and reset for each window present', () => {
    assert.deepEqual(rateLimitHeaders({ requests: { limit: 60, remaining: 59, resetMs: 1000 }, tokens: { limit: 10_000, remaining: 9_000, resetMs: 61_500 } }), {
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '9000',
      'x-ratelimit-reset-tokens': '1m1.5s',
    });
  });

  it('leaves out a window that is absent', () => {
    const headers = rateLimitHeaders({ tokens: { limit: 100, remaining: 0, resetMs: 20 } });
    assert.deepEqual(Object.keys(headers).sort(), ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens']);
    assert.deepEqual(rateLimitHeaders({}), {});
  });
});

describe('refusalError: budget', () => {
  const budget = (over: Partial<Refusal> = {}): Refusal => ({ admitted: false, reason: 'budget', subject: 'team:t1', retryAfterMs: 3_600_000, period: 'day', ...over });

  it('is a 429 insufficient_quota that SDKs must not retry on their own', () => {
    const err = refusalError(budget(), 10);
    assert.equal(err.status, 429);
    assert.equal(err.body.type, 'insufficient_quota');
    assert.equal(err.body.code, 'insufficient_quota');
    assert.equal(err.headers['x-should-retry'], 'false');
  });

  it('names the subject and the period that renews it', () => {
    const err = refusalError(budget(), 10);
    assert.match(err.message, /team:t1/);
    assert.match(err.message, /day/);
  });

  it('says when it renews in retry-after (whole seconds) and retry-after-ms', () => {
    const err = refusalError(budget(), 10);
    assert.equal(err.headers['retry-after'], '3600');
    assert.equal(err.headers['retry-after-ms'], '3600000');
  });

  it('has no retry-after for a budget with no end', () => {
    const err = refusalError(budget({ period: 'total', retryAfterMs: undefined }), 10);
    assert.equal(err.headers['retry-after'], undefined);
    assert.equal(err.headers['retry-after-ms'], undefined);
    assert.equal(err.headers['x-should-retry'], 'false');
    assert.match(err.message, /raise the budget/);
  });
});

describe('refusalError: requests and tokens', () => {
  const requests: Refusal = { admitted: false, reason: 'requests', subject: 'key:k1', retryAfterMs: 1500, requests: { limit: 60, remaining: 0, resetMs: 1500 } };
  const tokens: Refusal = { admitted: false, reason: 'tokens', subject: 'customer:c1', retryAfterMs: 250.4, tokens: { limit: 1000, remaining: 0, resetMs: 250.4 } };

  it('is a 429 rate_limit_exceeded whose type is the reason', () => {
    for (const refusal of [requests, tokens]) {
      const err = refusalError(refusal, 10);
      assert.equal(err.status, 429);
      assert.equal(err.body.code, 'rate_limit_exceeded');
      assert.equal(err.body.type, refusal.reason);
      assert.equal(err.headers['x-should-retry'], undefined, 'a wait helps: SDKs may retry');
    }
  });

  it('gives retry-after in whole seconds rounded up, and retry-after-ms', () => {
    assert.equal(refusalError(requests, 10).headers['retry-after'], '2');
    assert.equal(refusalError(requests, 10).headers['retry-after-ms'], '1500');
    assert.equal(refusalError(tokens, 10).headers['retry-after'], '1', 'never 0: a quarter second rounds up to one');
    assert.equal(refusalError(tokens, 10).headers['retry-after-ms'], '251');
  });

  it('carries the refusing window as x-ratelimit-* headers', () => {
    const headers = refusalError(requests, 10).headers;
    assert.equal(headers['x-ratelimit-limit-requests'], '60');
    assert.equal(headers['x-ratelimit-remaining-requests'], '0');
    assert.equal(headers['x-ratelimit-reset-requests'], '1.5s');
  });

  it('names the subject, the kind of limit, the limit and the wait', () => {
    const message = refusalError(requests, 10).message;
    assert.match(message, /key:k1/);
    assert.match(message, /RPM/);
    assert.match(message, /Limit 60/);
    assert.match(message, /try again in 1\.5s/);
    assert.match(refusalError(tokens, 10).message, /TPM/);
  });
});

describe('refusalError: a request larger than its tpm', () => {
  const tooLarge: Refusal = { admitted: false, reason: 'tokens', subject: 'key:k1', retryAfterMs: undefined, tooLarge: true, tokens: { limit: 1000, remaining: 1000, resetMs: 0 } };

  it('is a 429 that must not be retried, with no retry-after', () => {
    const err = refusalError(tooLarge, 5000);
    assert.equal(err.status, 429);
    assert.equal(err.body.code, 'rate_limit_exceeded');
    assert.equal(err.headers['x-should-retry'], 'false');
    assert.equal(err.headers['retry-after'], undefined);
  });

  it('names the limit and the tokens requested', () => {
    const message = refusalError(tooLarge, 5000).message;
    assert.match(message, /Limit 1000/);
    assert.match(message, /Requested 5000/);
  });
});

/** A meter that answers admit() with a set admission (or failure), and records what it was asked. */
class FakeMeter implements Meter {
  readonly calls: AdmitInput[] = [];
  answer: Admission | Error = { admitted: true };

  async admit(input: AdmitInput): Promise<Admission> {
    this.calls.push(input);
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }

  async record(_usageId: string, _at: number, _charges: UsageCharge[]): Promise<boolean> {
    throw new Error('admit() does not record usage');
  }

  async release(): Promise<void> {
    throw new Error('admit() does not release');
  }

  async spend(_subject: string, _periods: Period[], _at: number): Promise<Map<Period, number>> {
    throw new Error('admit() does not read spend');
  }

  async overBudget(): Promise<{ subject: string; period: Period } | undefined> {
    throw new Error('admit() does not check budgets outside the meter');
  }

  async close(): Promise<void> {}
}

const keyRecord = (terms: Partial<KeyRecord> = {}): KeyRecord => ({ id: 'k1', digest: 'a'.repeat(64), createdAt: '2025-01-01T00:00:00Z', source: 'admin', ...terms });
const limitedClient: Client = { keyId: 'k1', tenant: 'c1', principal: { key: keyRecord({ limits: { rpm: 60 } }), customer: { id: 'c1', budgets: [{ usd: 10, period: 'month' }] } } };

async function refusals(metrics: Metrics, reason: string): Promise<number> {
  const { values } = await metrics.admissionRefusals.get();
  return values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** The GatewayError `promise` rejects with; fails the test when it resolves or rejects with something else. */
async function gatewayError(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a GatewayError, nothing was thrown');
}

describe('admit', () => {
  it('admits an anonymous client (open API) without asking the meter', async () => {
    const meter = new FakeMeter();
    assert.deepEqual(await admit({ meter, metrics: createMetrics({ defaultMetrics: false }) }, { keyId: 'anonymous', tenant: 'default' }, 'r1', 10), {});
    assert.equal(meter.calls.length, 0);
  });

  it('admits a key with no limits anywhere without asking the meter', async () => {
    const meter = new FakeMeter();
    const client: Client = { keyId: 'k1', tenant: 'k1', principal: { key: keyRecord() } };
    assert.deepEqual(await admit({ meter, metrics: createMetrics({ defaultMetrics: false }) }, client, 'r1', 10), {});
    assert.equal(meter.calls.length, 0);
  });

  it('asks the meter with the request id, the estimate and every limited subject, and returns its windows as headers', async () => {
    const meter = new FakeMeter();
    meter.answer = { admitted: true, requests: { limit: 60, remaining: 59, resetMs: 1000 } };
    const headers = await admit({ meter, metrics: createMetrics({ defaultMetrics: false }) }, limitedClient, 'r1', 42);
    assert.deepEqual(meter.calls, [{ requestId: 'r1', estimatedTokens: 42, subjects: limitedClient.principal ? meteredSubjects(limitedClient.principal) : [] }]);
    assert.deepEqual(
      meter.calls[0].subjects.map((s) => s.subject),
      ['key:k1', 'customer:c1'],
    );
    assert.deepEqual(headers, { 'x-ratelimit-limit-requests': '60', 'x-ratelimit-remaining-requests': '59', 'x-ratelimit-reset-requests': '1s' });
  });

  it('throws the 429 of a refusal and counts it by reason', async () => {
    const meter = new FakeMeter();
    const metrics = createMetrics({ defaultMetrics: false });
    meter.answer = { admitted: false, reason: 'requests', subject: 'key:k1', retryAfterMs: 2000, requests: { limit: 60, remaining: 0, resetMs: 2000 } };
    const err = await gatewayError(admit({ meter, metrics }, limitedClient, 'r1', 10));
    assert.equal(err.status, 429);
    assert.equal(err.body.code, 'rate_limit_exceeded');
    assert.equal(err.headers['retry-after'], '2');
    assert.equal(await refusals(metrics, 'requests'), 1);

    meter.answer = { admitted: false, reason: 'budget', subject: 'customer:c1', retryAfterMs: undefined, period: 'total' };
    assert.equal((await gatewayError(admit({ meter, metrics }, limitedClient, 'r2', 10))).body.code, 'insufficient_quota');
    assert.equal(await refusals(metrics, 'budget'), 1);
    assert.equal(await refusals(metrics, 'requests'), 1, 'each reason counted apart');
  });

  it('answers 503 store_unavailable when the meter cannot be reached, counting no refusal', async () => {
    const meter = new FakeMeter();
    const metrics = createMetrics({ defaultMetrics: false });
    meter.answer = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    const err = await gatewayError(admit({ meter, metrics }, limitedClient, 'r1', 10));
    assert.equal(err.status, 503);
    assert.equal(err.body.code, 'store_unavailable');
    assert.ok(!err.message.includes('ECONNREFUSED'), 'the store\'s own error stays inside the gateway');
    const { values } = await metrics.admissionRefusals.get();
    assert.equal(values.reduce((sum, v) => sum + v.value, 0), 0);
  });
});
