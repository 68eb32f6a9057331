// Failures below HTTP: a reset connection, a host that does not resolve, a connect that never
// completes (a loopback port whose accept queue is full) and a first byte that comes too late.
// Each is classified (network or timeout), retried per its policy and then answered by the fallback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { attemptSummary, chat, chatStream, storedResult, type RequestView } from '#test/support/chat-exchange.ts';
import { breakerOff, fakeProvider, quickRetry } from '#test/support/fake-provider.ts';
import { startUnansweredPort, type UnansweredPort } from '#test/support/unanswered-port.ts';

const connectTimeoutMs = 300;
const firstByteMs = 600;

describe('network failures fall back (kafka)', () => {
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
          resetter: fakeProvider(primary.url),
          ghost: fakeProvider('http://nonexistent.invalid/v1'),
          blackhole: fakeProvider(`http://127.0.0.1:${blackhole.port}/v1`, { connectTimeoutMs }),
          // No connect timeout of its own: the alias below sets one.
          unanswered: fakeProvider(`http://127.0.0.1:${blackhole.port}/v1`),
          slow: fakeProvider(primary.url),
          backup: fakeProvider(backup.url),
        },
        models: { 'quick-connect': { targets: ['unanswered/m'], fallbacks: ['backup/m'], timeouts: { connectMs: connectTimeoutMs } } },
        routing: {
          retry: { network: quickRetry(1), timeout: quickRetry(0) },
          // Past the alias test's deadline, yet short enough that a connect left hanging ends soon.
          timeouts: { firstByteMs, connectMs: 4_000 },
          breaker: breakerOff,
        },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await Promise.all([primary?.close(), backup?.close(), blackhole?.close()]);
  });


  /** The primary timed out after firstByteMs, once (no retry in this policy), and the backup answered: the timed-out attempt. */
  async function timedOutOnceThenBackup(requestId: string, primaryBefore: number, backupBefore: number): Promise<RequestView['attempts'][number]> {
    assert.equal(primary.requests.length - primaryBefore, 1, 'timeouts are not retried in this policy');
    assert.equal(backup.requests.length - backupBefore, 1);
    const stored = await storedResult(gateway.url, requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'slow/m', failure: 'timeout' },
      { target: 'backup/m', status: 200 },
    ]);
    const [timedOut] = stored.attempts;
    assert.ok(timedOut);
    assert.ok(timedOut.latencyMs >= firstByteMs - 5 && timedOut.latencyMs < 5_000, `the timed-out attempt took ${timedOut.latencyMs} ms`);
    return timedOut;
  }

  it('connection reset: retried once, then answered by the fallback', async () => {
    const [p0, b0] = [primary.requests.length, backup.requests.length];
    primary.enqueue({ kind: 'reset' }, { kind: 'reset' });
    const answer = await chat(gateway.url, { model: 'resetter/m', fallbacks: ['backup/m'], content: 'reset' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.content, 'Echo: reset');
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
    assert.equal(answer.headers.get('x-spillway-attempts'), '3');
    assert.equal(primary.requests.length - p0, 2);
    assert.equal(backup.requests.length - b0, 1);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'resetter/m', failure: 'network' },
      { target: 'resetter/m', failure: 'network' },
      { target: 'backup/m', status: 200 },
    ]);
  });

  it('unresolvable host: a network failure, then answered by the fallback', async () => {
    const b0 = backup.requests.length;
    const answer = await chat(gateway.url, { model: 'ghost/m', fallbacks: ['backup/m'], content: 'ghost' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
    assert.equal(backup.requests.length - b0, 1);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'ghost/m', failure: 'network' },
      { target: 'ghost/m', failure: 'network' },
      { target: 'backup/m', status: 200 },
    ]);
    assert.match(stored.attempts[0]?.message ?? '', /ENOTFOUND|EAI_AGAIN/);
  });

  it('connect timeout: a timeout after connectTimeoutMs, then answered by the fallback', async () => {
    const b0 = backup.requests.length;
    const answer = await chat(gateway.url, { model: 'blackhole/m', fallbacks: ['backup/m'], content: 'blackhole' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
    assert.equal(backup.requests.length - b0, 1);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'blackhole/m', failure: 'timeout' },
      { target: 'backup/m', status: 200 },
    ]);
    const [connect] = stored.attempts;
    assert.ok(connect);
    assert.match(connect.message ?? '', /connect timeout/i, 'the handshake timed out, not a later phase');
    assert.ok(connect.latencyMs >= connectTimeoutMs - 5 && connect.latencyMs < firstByteMs + 1_000, `the connect attempt took ${connect.latencyMs} ms`);
  });

  it('slow first byte beyond firstByteMs: a timeout, then answered by the fallback', async () => {
    const [p0, b0] = [primary.requests.length, backup.requests.length];
    primary.enqueue({ kind: 'slow-first-byte', ms: 5_000 });
    const answer = await chat(gateway.url, { model: 'slow/m', fallbacks: ['backup/m'], content: 'slow' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
    await timedOutOnceThenBackup(answer.requestId, p0, b0);
  });

  it('stream_first_token_wait_under_idle_timeout: a stream that sends headers and no token within firstByteMs times out, and the fallback answers unseen', async () => {
    const [p0, b0] = [primary.requests.length, backup.requests.length];
    // Headers and the opening role chunk, then nothing: idleMs (60 s by default) must not be what ends the wait.
    primary.enqueue({ kind: 'stall', afterChunks: 0 });
    const answer = await chatStream(gateway.url, { model: 'slow/m', fallbacks: ['backup/m'], content: 'stalled', headers: { 'x-spillway-timeout-ms': '5000' } });
    assert.equal(answer.status, 200, JSON.stringify(answer.refusal));
    assert.deepEqual(answer.errors, []);
    assert.equal(answer.text, 'Echo: stalled');
    assert.equal(answer.doneCount, 1);
    assert.equal(answer.chunks.filter((c) => c.choices.some((choice) => choice.delta.role !== undefined)).length, 1, 'one opening role chunk');
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
    assert.equal(answer.headers.get('x-spillway-attempts'), '2');
    const stalled = await timedOutOnceThenBackup(answer.requestId, p0, b0);
    assert.match(stalled.message ?? '', /first token/);
  });

  it('alias_connect_timeout_ignored: an alias timeouts.connectMs cuts the connect and the fallback answers', async () => {
    const b0 = backup.requests.length;
    const answer = await chat(gateway.url, { model: 'quick-connect', content: 'alias connect timeout', headers: { 'x-spillway-timeout-ms': '2500' } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
    assert.equal(backup.requests.length - b0, 1);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'unanswered/m', failure: 'timeout' },
      { target: 'backup/m', status: 200 },
    ]);
  });
});
