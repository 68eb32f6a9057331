// When every target fails, the status says what happened: 429 with the earliest Retry-After when
// all were rate limited, 503 when all were overloaded, 502 for other upstream failures, 504 once
// the deadline passed; always OpenAI's error shape, the attempts listed, x-spillway-attempts set.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { attemptSummary, chat, storedResult } from '#test/support/chat-exchange.ts';
import { breakerOff, fakeProvider, quickRetry } from '#test/support/fake-provider.ts';
import { startUnansweredPort, type UnansweredPort } from '#test/support/unanswered-port.ts';

describe('every target fails (kafka)', () => {
  let primary: FakeOpenAI;
  let backup: FakeOpenAI;
  let blackhole: UnansweredPort;
  let gateway: TestGateway;

  before(async () => {
    [primary, backup, blackhole] = await Promise.all([startFakeOpenAI(), startFakeOpenAI(), startUnansweredPort()]);
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: {
          primary: fakeProvider(primary.url),
          backup: fakeProvider(backup.url),
          // Their own keys for the 429 case: the cooldowns it leaves must not touch the other cases.
          'limited-a': fakeProvider(primary.url, { keys: [{ id: 'la', key: 'sk-la' }] }),
          'limited-b': fakeProvider(backup.url, { keys: [{ id: 'lb', key: 'sk-lb' }] }),
          // Connects never complete; its own connect timeout lies well past the deadline under test.
          unanswered: fakeProvider(`http://127.0.0.1:${blackhole.port}/v1`, { connectTimeoutMs: 3_000 }),
        },
        routing: { retry: { rate_limited: quickRetry(0), overloaded: quickRetry(0), server: quickRetry(0) }, breaker: breakerOff },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await Promise.all([primary?.close(), backup?.close(), blackhole?.close()]);
  });

  it('all rate limited: 429 with the earliest Retry-After, the attempts listed', async () => {
    primary.enqueue({ kind: 'rate-limit', retryAfterSeconds: 2, resetRequests: '1ms' });
    backup.enqueue({ kind: 'rate-limit', retryAfterSeconds: 9, resetRequests: '1ms' });
    const answer = await chat(gateway.url, { model: 'limited-a/m', fallbacks: ['limited-b/m'], content: 'everyone is busy' });
    assert.equal(answer.status, 429, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('retry-after'), '2', 'the earliest comeback, not the last answer’s 9 s');
    assert.equal(answer.error?.code, 'rate_limit_exceeded');
    assert.equal(answer.error?.type, 'rate_limit_error');
    assert.match(answer.error?.message ?? '', /limited-a\/m: rate_limited \(429\)/);
    assert.match(answer.error?.message ?? '', /limited-b\/m: rate_limited \(429\)/);
    assert.equal(answer.headers.get('x-spillway-attempts'), '2');
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.equal(stored.status, 'failed');
    assert.equal(stored.http_status, 429);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'limited-a/m', failure: 'rate_limited', status: 429 },
      { target: 'limited-b/m', failure: 'rate_limited', status: 429 },
    ]);
  });

  it('all overloaded: 503, the attempts listed', async () => {
    primary.enqueue({ kind: 'status', status: 503 });
    backup.enqueue({ kind: 'status', status: 529 });
    const answer = await chat(gateway.url, { model: 'primary/m', fallbacks: ['backup/m'], content: 'overloaded' });
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    assert.equal(answer.error?.code, 'upstream_overloaded');
    assert.match(answer.error?.message ?? '', /primary\/m: overloaded \(503\); backup\/m: overloaded \(529\)/);
    assert.equal(answer.headers.get('x-spillway-attempts'), '2');
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'primary/m', failure: 'overloaded', status: 503 },
      { target: 'backup/m', failure: 'overloaded', status: 529 },
    ]);
  });

  it('all failing with 5xx of different kinds: 502, the attempts listed', async () => {
    primary.enqueue({ kind: 'status', status: 500 });
    backup.enqueue({ kind: 'status', status: 503 });
    const answer = await chat(gateway.url, { model: 'primary/m', fallbacks: ['backup/m'], content: 'broken' });
    assert.equal(answer.status, 502, JSON.stringify(answer.body));
    assert.equal(answer.error?.code, 'upstream_error');
    assert.match(answer.error?.message ?? '', /primary\/m: server \(500\); backup\/m: overloaded \(503\)/);
    assert.equal(answer.headers.get('x-spillway-attempts'), '2');
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup', 'the last target tried');
  });

  it('the deadline passes during an attempt: 504 deadline_exceeded at the deadline, not later', async () => {
    const b0 = backup.requests.length;
    primary.enqueue({ kind: 'slow-first-byte', ms: 5_000 });
    const started = Date.now();
    const answer = await chat(gateway.url, { model: 'primary/m', fallbacks: ['backup/m'], content: 'too slow', headers: { 'x-spillway-timeout-ms': '800' } });
    const elapsed = Date.now() - started;
    assert.equal(answer.status, 504, JSON.stringify(answer.body));
    assert.equal(answer.error?.code, 'deadline_exceeded');
    assert.equal(answer.headers.get('x-spillway-attempts'), '1');
    assert.ok(elapsed >= 800 && elapsed < 1_700, `answered after ${elapsed} ms for an 800 ms deadline`);
    assert.equal(backup.requests.length - b0, 0, 'nothing is started at or after the deadline');
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.equal(stored.status, 'failed');
    assert.deepEqual(attemptSummary(stored.attempts), [{ target: 'primary/m', failure: 'deadline_exceeded' }]);
  });

  it('deadline_ignored_while_connecting: the deadline passes during a connect: 504 at the deadline, the attempt listed', async () => {
    const b0 = backup.requests.length;
    const started = Date.now();
    const answer = await chat(gateway.url, { model: 'unanswered/m', fallbacks: ['backup/m'], content: 'still connecting', headers: { 'x-spillway-timeout-ms': '800' } });
    const elapsed = Date.now() - started;
    assert.equal(answer.status, 504, JSON.stringify(answer.body));
    assert.equal(answer.error?.code, 'deadline_exceeded');
    assert.equal(answer.headers.get('x-spillway-attempts'), '1', "the worker's answer, not the ingest's fallback 504");
    assert.ok(elapsed < 1_700, `answered after ${elapsed} ms for an 800 ms deadline`);
    assert.equal(backup.requests.length - b0, 0);
  });
});
