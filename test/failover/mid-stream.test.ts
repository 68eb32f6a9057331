// Streams across attempts. A failure before the first token fails over unseen. A failure after
// tokens reached the client (stall past idleMs, disconnect, in-band error event) continues on the
// fallback, which is sent the text so far as a trailing assistant message and answers only the
// rest: the client reads one stream whose text is the intended answer exactly, ending in one
// [DONE]. With midStream: error, or nothing left to continue on, the stream ends with an error
// event and no [DONE].
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type ChatRequestBody, type Fault, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { modes, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { attemptSummary, chatStream, storedResult, type StreamAnswer } from '#test/support/chat-exchange.ts';
import { breakerOff, fakeProvider, quickRetry } from '#test/support/fake-provider.ts';

const intended = 'The quick brown fox jumps over the lazy dog, and then it does it all over again.';
/** What the client has read when the primary fails after three text chunks. */
const partial = 'The quick brown ';
const idleMs = 300;

/** The continuation contract: given the answer so far as the last (assistant) message, send the rest. */
function continueIntended(body: ChatRequestBody): { text: string } {
  const last = body.messages.at(-1);
  if (last?.role !== 'assistant') return { text: intended };
  const sofar = typeof last.content === 'string' ? last.content : '';
  return { text: intended.startsWith(sofar) ? intended.slice(sofar.length) : `<not a prefix of the answer: ${sofar}>` };
}

/** One clean stream: the intended text, one role chunk, one id, one [DONE] at the very end, no error. */
function assertOneCleanStream(answer: StreamAnswer): void {
  assert.equal(answer.status, 200, JSON.stringify(answer.refusal));
  assert.deepEqual(answer.errors, []);
  assert.equal(answer.text, intended, 'no repeated and no missing text');
  assert.equal(answer.doneCount, 1);
  assert.equal(answer.data.at(-1), '[DONE]');
  assert.equal(answer.chunks.filter((c) => c.choices.some((choice) => choice.delta.role !== undefined)).length, 1, 'one opening role chunk');
  assert.equal(new Set(answer.chunks.map((c) => c.id)).size, 1, 'every chunk carries the stream id');
  assert.equal(answer.chunks.filter((c) => c.choices.some((choice) => choice.finish_reason)).length, 1, 'one finish chunk');
}

/** The tool calls a stream's chunks assemble to: names and argument fragments joined by index. */
function toolCallsOf(answer: StreamAnswer): { name: string; arguments: string }[] {
  const calls: { name: string; arguments: string }[] = [];
  for (const data of answer.data) {
    if (data === '[DONE]') continue;
    const parsed = JSON.parse(data) as { choices?: { delta?: { tool_calls?: { index: number; function?: { name?: string; arguments?: string } }[] } }[] };
    for (const call of parsed.choices?.[0]?.delta?.tool_calls ?? []) {
      const entry = (calls[call.index] ??= { name: '', arguments: '' });
      entry.name += call.function?.name ?? '';
      entry.arguments += call.function?.arguments ?? '';
    }
  }
  return calls;
}

for (const mode of modes) {
  describe(`streams across attempts (${mode})`, () => {
    let primary: FakeOpenAI;
    let backup: FakeOpenAI;
    let gateway: TestGateway;

    before(async () => {
      [primary, backup] = await Promise.all([startFakeOpenAI(), startFakeOpenAI()]);
      primary.reply = () => ({ text: intended });
      backup.reply = continueIntended;
      const alias = (midStream: 'continue' | 'error', fallbacks = ['backup/m']): Record<string, unknown> => ({ targets: ['primary/m'], fallbacks, midStream, timeouts: { idleMs } });
      gateway = await startTestGateway({
        mode,
        config: {
          // `second` is the backup fake again under another name: a second fallback target.
          providers: { primary: fakeProvider(primary.url), backup: fakeProvider(backup.url), second: fakeProvider(backup.url) },
          models: { continuing: alias('continue'), strict: alias('error'), twice: alias('continue', ['backup/m', 'second/m']) },
          routing: { retry: { overloaded: quickRetry(0), server: quickRetry(0), network: quickRetry(0), timeout: quickRetry(0) }, breaker: breakerOff },
        },
      });
    });

    after(async () => {
      await gateway?.close(1_000);
      await Promise.all([primary?.close(), backup?.close()]);
    });

    it('a 503 before the first token fails over unseen: one clean stream from the fallback', async () => {
      const b0 = backup.requests.length;
      primary.enqueue({ kind: 'status', status: 503 });
      const answer = await chatStream(gateway.url, { model: 'continuing', content: 'tell me' });
      assertOneCleanStream(answer);
      const [call] = backup.requests.slice(b0);
      assert.ok(call);
      assert.equal((call.body as ChatRequestBody).messages.at(-1)?.role, 'user', 'not a continuation: nothing had reached the client');
      const stored = await storedResult(gateway.url, answer.requestId);
      assert.equal(stored.status, 'completed');
      assert.deepEqual(attemptSummary(stored.attempts), [
        { target: 'primary/m', failure: 'overloaded', status: 503 },
        { target: 'backup/m', status: 200 },
      ]);
    });

    it('stream_headers_missing_provider: a stream names in its headers the target that produced its first token', async () => {
      const headersOf = (answer: StreamAnswer): [string | null, string | null, string | null] => [
        answer.headers.get('x-spillway-provider'),
        answer.headers.get('x-spillway-model'),
        answer.headers.get('x-spillway-attempts'),
      ];
      const plain = await chatStream(gateway.url, { model: 'continuing', content: 'tell me' });
      assertOneCleanStream(plain);
      assert.deepEqual(headersOf(plain), ['primary', 'm', '1']);

      primary.enqueue({ kind: 'status', status: 503 });
      const failedOver = await chatStream(gateway.url, { model: 'continuing', content: 'tell me' });
      assertOneCleanStream(failedOver);
      assert.deepEqual(headersOf(failedOver), ['backup', 'm', '2']);

      // The primary sent its opening role chunk and no token: the headers wait for the first token.
      primary.enqueue({ kind: 'disconnect', afterChunks: 0 });
      const openedThenCut = await chatStream(gateway.url, { model: 'continuing', content: 'tell me' });
      assertOneCleanStream(openedThenCut);
      assert.deepEqual(headersOf(openedThenCut), ['backup', 'm', '2']);

      // Headers already sent cannot change: a mid-stream failover leaves them naming the first target.
      primary.enqueue({ kind: 'disconnect', afterChunks: 3 });
      const continued = await chatStream(gateway.url, { model: 'continuing', content: 'tell me' });
      assertOneCleanStream(continued);
      assert.deepEqual(headersOf(continued), ['primary', 'm', '1']);
      assert.equal((await storedResult(gateway.url, continued.requestId)).provider, 'backup', 'the stored result names the target that finished');
    });

    // The in-band error event carries no status of its own; the adapter records it as a 500.
    it('every target failing before the first token: an HTTP error in OpenAI shape, not a stream', async () => {
      primary.enqueue({ kind: 'status', status: 503 });
      backup.enqueue({ kind: 'status', status: 503 });
      const answer = await chatStream(gateway.url, { model: 'continuing', content: 'tell me' });
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('x-spillway-attempts'), '2');
      const refusal = answer.refusal as { error?: { code?: string } };
      assert.equal(refusal.error?.code, 'upstream_overloaded');
    });

    const midStreamFaults: { name: string; fault: Fault; failed: { failure: string; status?: number } }[] = [
      { name: `a stall past idleMs (${idleMs} ms)`, fault: { kind: 'stall', afterChunks: 3 }, failed: { failure: 'timeout' } },
      { name: 'a disconnect', fault: { kind: 'disconnect', afterChunks: 3 }, failed: { failure: 'network' } },
      { name: 'an in-band SSE error event', fault: { kind: 'in-band-error', afterChunks: 3 }, failed: { failure: 'server', status: 500 } },
    ];

    for (const { name, fault, failed } of midStreamFaults) {
      it(`${name} mid-stream continues on the fallback: the text is the intended answer exactly`, async () => {
        const b0 = backup.requests.length;
        primary.enqueue(fault);
        const answer = await chatStream(gateway.url, { model: 'continuing', content: 'tell me' });
        assertOneCleanStream(answer);

        const calls = backup.requests.slice(b0);
        assert.equal(calls.length, 1);
        const messages = (calls[0]?.body as ChatRequestBody).messages;
        assert.deepEqual(messages.at(-1), { role: 'assistant', content: partial }, 'the fallback is given exactly the text the client already read');
        assert.deepEqual(messages.at(-2), { role: 'user', content: 'tell me' });

        const stored = await storedResult(gateway.url, answer.requestId);
        assert.equal(stored.status, 'completed');
        assert.deepEqual(attemptSummary(stored.attempts), [
          { target: 'primary/m', ...failed },
          { target: 'backup/m', status: 200 },
        ]);
        const response = stored.response as { choices: { message: { content: string } }[] };
        assert.equal(response.choices[0]?.message.content, intended, 'the stored answer is the whole answer too');
      });
    }

    it('two mid-stream failures in a row: the second fallback continues from all the text so far', async () => {
      const b0 = backup.requests.length;
      primary.enqueue({ kind: 'disconnect', afterChunks: 3 });
      backup.enqueue({ kind: 'disconnect', afterChunks: 2 });
      const answer = await chatStream(gateway.url, { model: 'twice', content: 'tell me' });
      assertOneCleanStream(answer);
      const calls = backup.requests.slice(b0).map((r) => (r.body as ChatRequestBody).messages.at(-1));
      assert.deepEqual(calls, [
        { role: 'assistant', content: partial },
        { role: 'assistant', content: `${partial}fox jumps ` },
      ]);
      const stored = await storedResult(gateway.url, answer.requestId);
      assert.deepEqual(attemptSummary(stored.attempts), [
        { target: 'primary/m', failure: 'network' },
        { target: 'backup/m', failure: 'network' },
        { target: 'second/m', status: 200 },
      ]);
    });

    it('tool_call_stream_corrupted_on_failover: a tool-call stream cut mid-way ends exact or with an error event', async () => {
      const args = '{"city":"Paris","unit":"celsius","days":3}';
      const toolCall = { toolCalls: [{ name: 'get_weather', arguments: args }] };
      primary.reply = () => toolCall;
      backup.reply = () => toolCall;
      try {
        primary.enqueue({ kind: 'disconnect', afterChunks: 2 });
        const answer = await chatStream(gateway.url, { model: 'continuing', content: 'weather?' });
        assert.equal(answer.status, 200);
        const calls = toolCallsOf(answer);
        if (answer.doneCount === 1) {
          assert.deepEqual(answer.errors, []);
          assert.deepEqual(calls, [{ name: 'get_weather', arguments: args }], 'a stream ending in [DONE] holds exactly the intended call');
        } else {
          assert.equal(answer.errors.length, 1, 'a stream that cannot be continued ends with an error event');
        }
      } finally {
        primary.reply = () => ({ text: intended });
        backup.reply = continueIntended;
      }
    });

    it('midStream: error ends a stream that failed mid-way with an error event and no [DONE]', async () => {
      const b0 = backup.requests.length;
      primary.enqueue({ kind: 'disconnect', afterChunks: 3 });
      const answer = await chatStream(gateway.url, { model: 'strict', content: 'tell me' });
      assert.equal(answer.status, 200);
      assert.equal(answer.text, partial);
      assert.equal(answer.doneCount, 0, 'never a clean-looking [DONE]');
      assert.equal(answer.errors.length, 1);
      assert.match(answer.data.at(-1) ?? '', /^\{"error":/, 'the error event is the last event');
      assert.equal(backup.requests.length - b0, 0, 'no continuation');
      const stored = await storedResult(gateway.url, answer.requestId);
      assert.equal(stored.status, 'failed');
      assert.deepEqual(attemptSummary(stored.attempts), [{ target: 'primary/m', failure: 'network' }]);
    });

    it('a mid-stream failure with fallback turned off ends with an error event and no [DONE]', async () => {
      const b0 = backup.requests.length;
      primary.enqueue({ kind: 'in-band-error', afterChunks: 3 });
      const answer = await chatStream(gateway.url, { model: 'continuing', content: 'tell me', headers: { 'x-spillway-fallback': 'off' } });
      assert.equal(answer.status, 200);
      assert.equal(answer.text, partial);
      assert.equal(answer.doneCount, 0);
      assert.equal(answer.errors.length, 1);
      assert.equal(backup.requests.length - b0, 0);
    });
  });
}
