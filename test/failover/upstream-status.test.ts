// Each upstream status through the failover core: transient 5xx are retried on the same target and
// then fall back; a 429's wait hint (seconds, milliseconds, HTTP date) is honoured when it fits
// the deadline and skipped otherwise; a 401/403 takes one key out and the next key answers; a
// caller fault comes back as is. Checked from the client's side and in the stored attempts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI, type RecordedRequest } from '#test/fakes/openai-upstream.ts';
import { modes, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { attemptSummary, chat, storedResult, type ChatAnswer } from '#test/support/chat-exchange.ts';
import { breakerOff, fakeProvider, quickRetry } from '#test/support/fake-provider.ts';
import { metricValue, scrapeMetrics } from '#test/support/prometheus-text.ts';
import { waitForLog } from '#test/support/log-lines.ts';

/** The gap between two requests' arrivals at a fake, in ms. */
function gap(requests: readonly RecordedRequest[]): number {
  const [first, second] = requests;
  assert.ok(first && second, `expected two requests at the fake, got ${requests.length}`);
  return second.receivedAt - first.receivedAt;
}

for (const mode of modes) {
  describe(`transient and caller-fault statuses (${mode})`, () => {
    let primary: FakeOpenAI;
    let backup: FakeOpenAI;
    let gateway: TestGateway;

    before(async () => {
      [primary, backup] = await Promise.all([startFakeOpenAI(), startFakeOpenAI()]);
      gateway = await startTestGateway({
        mode,
        config: {
          providers: { primary: fakeProvider(primary.url), backup: fakeProvider(backup.url) },
          models: { chat: { targets: ['primary/m'], fallbacks: ['backup/m'] } },
          routing: { retry: { server: quickRetry(1), overloaded: quickRetry(1) }, breaker: breakerOff },
        },
      });
    });

    after(async () => {
      await gateway?.close(1_000);
      await Promise.all([primary?.close(), backup?.close()]);
    });

    for (const status of [500, 502, 503, 504, 529]) {
      const failure = status === 503 || status === 529 ? 'overloaded' : 'server';
      it(`${status}: retried once on the same target (${failure} policy), then answered by the fallback`, async () => {
        const [p0, b0] = [primary.requests.length, backup.requests.length];
        primary.enqueue({ kind: 'status', status }, { kind: 'status', status });
        const answer = await chat(gateway.url, { model: 'chat', content: `status ${status}` });

        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.content, `Echo: status ${status}`);
        assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
        assert.equal(answer.headers.get('x-spillway-model'), 'm');
        assert.equal(answer.headers.get('x-spillway-attempts'), '3');
        assert.equal(primary.requests.length - p0, 2, 'the first try and one retry');
        assert.equal(backup.requests.length - b0, 1);

        const stored = await storedResult(gateway.url, answer.requestId);
        assert.equal(stored.status, 'completed');
        assert.equal(stored.provider, 'backup');
        assert.deepEqual(attemptSummary(stored.attempts), [
          { target: 'primary/m', failure, status },
          { target: 'primary/m', failure, status },
          { target: 'backup/m', status: 200 },
        ]);
        assert.deepEqual(
          stored.attempts.map((a) => a.keyId),
          ['key-1', 'key-1', 'key-1'],
        );
        assert.ok(stored.attempts.every((a) => a.latencyMs >= 0));
      });
    }

    for (const status of [400, 404, 409, 413, 415, 422]) {
      it(`${status}: the caller's fault is returned as is, with no retry and no fallback`, async () => {
        const [p0, b0] = [primary.requests.length, backup.requests.length];
        const upstreamError = { message: `The upstream refused this (${status}).`, type: 'invalid_request_error', param: 'messages', code: `refused_${status}` };
        primary.enqueue({ kind: 'status', status, body: { error: upstreamError } });
        const answer = await chat(gateway.url, { model: 'chat', content: `caller fault ${status}` });

        assert.equal(answer.status, status, JSON.stringify(answer.body));
        assert.deepEqual(answer.error, { message: upstreamError.message, type: upstreamError.type, code: upstreamError.code });
        assert.equal(answer.headers.get('x-spillway-attempts'), '1');
        assert.equal(primary.requests.length - p0, 1, 'no retry');
        assert.equal(backup.requests.length - b0, 0, 'no fallback: the backup sees nothing');

        const stored = await storedResult(gateway.url, answer.requestId);
        assert.equal(stored.status, 'failed');
        assert.equal(stored.http_status, status);
        assert.deepEqual(attemptSummary(stored.attempts), [{ target: 'primary/m', failure: 'client', status }]);
      });
    }

    it('counts the retry, the fallback (from → to) and the attempts by failure class in /metrics', async () => {
      const before = await scrapeMetrics(gateway.url);
      primary.enqueue({ kind: 'status', status: 503 }, { kind: 'status', status: 503 });
      const answer = await chat(gateway.url, { model: 'chat', content: 'metrics' });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const after = await scrapeMetrics(gateway.url);
      const grew = (name: string, labels: Record<string, string>): number => metricValue(after, name, labels) - metricValue(before, name, labels);

      assert.equal(grew('spillway_fallbacks_total', { from: 'primary/m', to: 'backup/m', reason: 'retries_exhausted' }), 1);
      assert.equal(grew('spillway_upstream_attempts_total', { provider: 'primary', model: 'm', failure: 'overloaded' }), 2);
      assert.equal(grew('spillway_upstream_attempts_total', { provider: 'backup', model: 'm', failure: 'none' }), 1);
      assert.equal(grew('spillway_retries_total', { provider: 'primary', model: 'm', failure: 'overloaded' }), 1);
      // The log says why: one line per failover, with the request id.
      const why = await waitForLog(gateway.logs, { msg: 'attempt failed; falling back', requestId: answer.requestId });
      assert.equal(why.from, 'primary/m');
      assert.equal(why.to, 'backup/m');
      assert.equal(why.reason, 'retries_exhausted');
      assert.equal(why.failure, 'overloaded');
    });

    it('requests_total_counts_only_success: every finished request is counted once, by provider, model and outcome', async () => {
      const before = await scrapeMetrics(gateway.url);
      /** Sends one request; resolves once its worker logged it finished, which it does after counting it. */
      const finished = async (content: string, status: number, headers?: Record<string, string>): Promise<void> => {
        const answer = await chat(gateway.url, { model: 'chat', content, ...(headers ? { headers } : {}) });
        assert.equal(answer.status, status, JSON.stringify(answer.body));
        await waitForLog(gateway.logs, { msg: 'request completed', requestId: answer.requestId });
      };
      // A success after a failover, a caller fault, every target failing, and a deadline.
      primary.enqueue({ kind: 'status', status: 503 }, { kind: 'status', status: 503 });
      await finished('outcome success', 200);
      primary.enqueue({ kind: 'status', status: 400, body: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: 'bad' } } });
      await finished('outcome client', 400);
      primary.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
      backup.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
      await finished('outcome exhausted', 502);
      primary.enqueue({ kind: 'slow-first-byte', ms: 3_000 });
      await finished('outcome deadline', 504, { 'x-spillway-timeout-ms': '400' });

      const after = await scrapeMetrics(gateway.url);
      const grew = (labels: Record<string, string>): number => metricValue(after, 'spillway_requests_total', labels) - metricValue(before, 'spillway_requests_total', labels);
      assert.equal(grew({ provider: 'backup', model: 'm', outcome: 'success' }), 1);
      assert.equal(grew({ provider: 'primary', model: 'm', outcome: 'client_error' }), 1);
      assert.equal(grew({ provider: 'backup', model: 'm', outcome: 'exhausted' }), 1);
      assert.equal(grew({ provider: 'primary', model: 'm', outcome: 'deadline' }), 1);
      assert.equal(grew({}), 4, 'each request once, however many attempts it took');
    });
  });
}

describe('rate limits and bad keys (kafka)', () => {
  let primary: FakeOpenAI;
  let backup: FakeOpenAI;
  let keyed: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    [primary, backup, keyed] = await Promise.all([startFakeOpenAI(), startFakeOpenAI(), startFakeOpenAI({ validKeys: ['sk-good'] })]);
    // One single-key provider per 429 case on the same fake: a 429 cools its key, and each case
    // starts from a key nobody has cooled.
    const single = (id: string): Record<string, unknown> => fakeProvider(primary.url, { keys: [{ id, key: `sk-${id}` }] });
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: {
          'rl-seconds': single('rl-seconds'),
          'rl-ms': single('rl-ms'),
          'rl-date': single('rl-date'),
          'rl-deadline': single('rl-deadline'),
          'rl-reset': single('rl-reset'),
          pool: fakeProvider(primary.url, { keys: [{ id: 'pool-a', key: 'sk-pool-a' }, { id: 'pool-b', key: 'sk-pool-b' }] }),
          forbidden: fakeProvider(primary.url, { keys: [{ id: 'k403', key: 'sk-forbidden', weight: 1000 }, { id: 'k-ok', key: 'sk-allowed', weight: 1 }] }),
          keyed: fakeProvider(keyed.url, { keys: [{ id: 'bad', key: 'sk-bad', weight: 1000 }, { id: 'good', key: 'sk-good', weight: 1 }] }),
          revoked: fakeProvider(keyed.url, { keys: [{ id: 'revoked-1', key: 'sk-revoked-1' }, { id: 'revoked-2', key: 'sk-revoked-2' }] }),
          backup: fakeProvider(backup.url),
        },
        routing: { retry: { rate_limited: quickRetry(1) }, breaker: breakerOff },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await Promise.all([primary?.close(), backup?.close(), keyed?.close()]);
  });

  /** A 429 answered on the same target after the wait; returns the two requests the fake saw. */
  async function waitedRetry(provider: string, fault: Parameters<FakeOpenAI['enqueue']>[0]): Promise<RecordedRequest[]> {
    const [p0, b0] = [primary.requests.length, backup.requests.length];
    primary.enqueue(fault);
    const answer = await chat(gateway.url, { model: `${provider}/m`, fallbacks: ['backup/m'], content: provider });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), provider);
    assert.equal(answer.headers.get('x-spillway-attempts'), '2');
    assert.equal(backup.requests.length - b0, 0, 'the wait fitted: no fallback');
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: `${provider}/m`, failure: 'rate_limited', status: 429 },
      { target: `${provider}/m`, status: 200 },
    ]);
    return primary.requests.slice(p0);
  }

  // The fake also sends x-ratelimit-reset-requests; at 1 ms it cannot pass for the hint under test.
  it('429 with Retry-After in seconds: waits that long, then the same target answers', async () => {
    const seen = await waitedRetry('rl-seconds', { kind: 'rate-limit', retryAfterSeconds: 1, resetRequests: '1ms' });
    assert.ok(gap(seen) >= 1_000, `retried after ${gap(seen)} ms, before the 1 s hint`);
    assert.ok(gap(seen) < 2_500, `retried after ${gap(seen)} ms, long after the 1 s hint`);
  });

  it('429 with retry-after-ms: waits that long, then the same target answers', async () => {
    const seen = await waitedRetry('rl-ms', { kind: 'rate-limit', retryAfterMs: 400, resetRequests: '1ms' });
    assert.ok(gap(seen) >= 400, `retried after ${gap(seen)} ms, before the 400 ms hint`);
    assert.ok(gap(seen) < 1_900, `retried after ${gap(seen)} ms, long after the 400 ms hint`);
  });

  it('429 with Retry-After as an HTTP date: waits until then, then the same target answers', async () => {
    // HTTP dates have whole seconds: the hint lands 1.5–2.5 s ahead, beyond the 1 ms reset header.
    const date = new Date(Date.now() + 2_500);
    const hintedAt = Date.parse(date.toUTCString());
    const seen = await waitedRetry('rl-date', { kind: 'rate-limit', retryAfterDate: date, resetRequests: '1ms' });
    const [, second] = seen;
    assert.ok(second);
    assert.ok(second.receivedAt >= hintedAt, `retried ${hintedAt - second.receivedAt} ms before the Retry-After date`);
    assert.ok(second.receivedAt < hintedAt + 1_500, `retried ${second.receivedAt - hintedAt} ms after the Retry-After date`);
  });

  it('429 with only x-ratelimit-reset-requests: waits for the reset, then the same target answers', async () => {
    const seen = await waitedRetry('rl-reset', { kind: 'rate-limit', resetRequests: '700ms' });
    assert.ok(gap(seen) >= 700, `retried after ${gap(seen)} ms, before the 700 ms reset`);
    assert.ok(gap(seen) < 2_200, `retried after ${gap(seen)} ms, long after the 700 ms reset`);
  });

  it('429 whose Retry-After exceeds the deadline: fails over at once, without waiting', async () => {
    const [p0, b0] = [primary.requests.length, backup.requests.length];
    primary.enqueue({ kind: 'rate-limit', retryAfterSeconds: 30, resetRequests: '1ms' });
    const started = Date.now();
    const answer = await chat(gateway.url, { model: 'rl-deadline/m', fallbacks: ['backup/m'], content: 'no time to wait', headers: { 'x-spillway-timeout-ms': '5000' } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
    assert.equal(primary.requests.length - p0, 1);
    assert.equal(backup.requests.length - b0, 1);
    const [failed] = primary.requests.slice(p0);
    const [answered] = backup.requests.slice(b0);
    assert.ok(failed && answered);
    assert.ok(answered.receivedAt - failed.receivedAt < 1_000, `the fallback came ${answered.receivedAt - failed.receivedAt} ms after the 429`);
    assert.ok(Date.now() - started < 4_000);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'rl-deadline/m', failure: 'rate_limited', status: 429 },
      { target: 'backup/m', status: 200 },
    ]);
  });

  it('429 on one key of several: rotates to the other key at once, without waiting for the hint', async () => {
    const p0 = primary.requests.length;
    primary.enqueue({ kind: 'rate-limit', retryAfterSeconds: 30, resetRequests: '1ms' });
    const answer = await chat(gateway.url, { model: 'pool/m', content: 'rotate on 429' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'pool');
    const seen = primary.requests.slice(p0);
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0]?.apiKey, seen[1]?.apiKey, 'the second call uses the other key');
    assert.ok(gap(seen) < 1_000, `rotated after ${gap(seen)} ms`);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'pool/m', failure: 'rate_limited', status: 429 },
      { target: 'pool/m', status: 200 },
    ]);
    assert.notEqual(stored.attempts[0]?.keyId, stored.attempts[1]?.keyId);
  });

  it('401 on one key of several: the next key answers, the bad key stays out and is counted', async () => {
    const cooldowns = async (): Promise<number> => metricValue(await scrapeMetrics(gateway.url), 'spillway_key_cooldowns_total', { key: 'keyed:bad', reason: 'auth' });
    const countedBefore = await cooldowns();
    // Weights 1000:1 make the bad key the first pick almost always; the loop covers the rest.
    let hit: ChatAnswer | undefined;
    for (let i = 0; i < 10 && hit === undefined; i++) {
      const k0 = keyed.requests.length;
      const answer = await chat(gateway.url, { model: 'keyed/m', content: `find the bad key ${i}` });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const keys = keyed.requests.slice(k0).map((r) => r.apiKey);
      if (keys[0] === 'sk-bad') {
        assert.deepEqual(keys, ['sk-bad', 'sk-good']);
        hit = answer;
      } else {
        assert.deepEqual(keys, ['sk-good']);
      }
    }
    assert.ok(hit, 'the bad key was never picked');
    assert.equal(hit.headers.get('x-spillway-provider'), 'keyed');
    assert.equal(hit.headers.get('x-spillway-attempts'), '2');
    const stored = await storedResult(gateway.url, hit.requestId);
    assert.deepEqual(
      stored.attempts.map((a) => ({ keyId: a.keyId, failure: a.failure, status: a.status })),
      [
        { keyId: 'bad', failure: 'auth', status: 401 },
        { keyId: 'good', failure: undefined, status: 200 },
      ],
    );
    assert.ok(!JSON.stringify(stored).includes('sk-bad'), 'the key itself never appears in a result');

    const k1 = keyed.requests.length;
    for (let i = 0; i < 5; i++) {
      const answer = await chat(gateway.url, { model: 'keyed/m', content: `after ${i}` });
      assert.equal(answer.status, 200);
    }
    assert.deepEqual(
      keyed.requests.slice(k1).map((r) => r.apiKey),
      Array(5).fill('sk-good'),
      'the bad key stays out of rotation',
    );
    assert.equal((await cooldowns()) - countedBefore, 1);
  });

  it('403 on one key of several: the other key answers and the forbidden key stays out', async () => {
    const p0 = primary.requests.length;
    primary.enqueue({ kind: 'status', status: 403 });
    const answer = await chat(gateway.url, { model: 'forbidden/m', content: 'forbidden' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const stored = await storedResult(gateway.url, answer.requestId);
    const [refused, answered] = stored.attempts;
    assert.ok(refused && answered && stored.attempts.length === 2);
    assert.equal(refused.failure, 'auth');
    assert.equal(refused.status, 403);
    assert.equal(answered.status, 200);
    assert.notEqual(refused.keyId, answered.keyId);
    const refusedKey = primary.requests[p0]?.apiKey;
    assert.ok(refusedKey);

    const p1 = primary.requests.length;
    for (let i = 0; i < 5; i++) assert.equal((await chat(gateway.url, { model: 'forbidden/m', content: `after ${i}` })).status, 200);
    assert.ok(
      primary.requests.slice(p1).every((r) => r.apiKey !== refusedKey),
      'the key that drew the 403 is not used again',
    );
    const metrics = await scrapeMetrics(gateway.url);
    assert.equal(metricValue(metrics, 'spillway_key_cooldowns_total', { key: `forbidden:${refused.keyId ?? ''}`, reason: 'auth' }), 1);
  });

  it('every key of a provider refused (401): the next fallback answers', async () => {
    const [k0, b0] = [keyed.requests.length, backup.requests.length];
    const answer = await chat(gateway.url, { model: 'revoked/m', fallbacks: ['backup/m'], content: 'all keys revoked' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
    assert.deepEqual(keyed.requests.slice(k0).map((r) => r.apiKey).sort(), ['sk-revoked-1', 'sk-revoked-2'], 'each key tried once');
    assert.equal(backup.requests.length - b0, 1);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'revoked/m', failure: 'auth', status: 401 },
      { target: 'revoked/m', failure: 'auth', status: 401 },
      { target: 'backup/m', status: 200 },
    ]);
  });
});
