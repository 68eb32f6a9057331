// A prompt too long for the target's context window (a 400 whose code says so) goes to the alias's
// contextFallbacks, not to its ordinary fallbacks; without a context chain it is a caller fault and
// comes back as is. A content-policy refusal takes its own chain the same way.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { attemptSummary, chat, storedResult } from '#test/support/chat-exchange.ts';
import { breakerOff, fakeProvider } from '#test/support/fake-provider.ts';

const tooLong = {
  message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens. Please reduce the length of the messages.",
  type: 'invalid_request_error',
  param: 'messages',
  code: 'context_length_exceeded',
};

const refused = {
  message: "The response was filtered due to the prompt triggering the content management policy.",
  type: 'invalid_request_error',
  param: 'prompt',
  code: 'content_filter',
};

describe('context-length and content-policy chains (kafka)', () => {
  let small: FakeOpenAI;
  let backup: FakeOpenAI;
  let large: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    [small, backup, large] = await Promise.all([startFakeOpenAI(), startFakeOpenAI(), startFakeOpenAI()]);
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: { small: fakeProvider(small.url), backup: fakeProvider(backup.url), large: fakeProvider(large.url) },
        models: {
          chat: { targets: ['small/m'], fallbacks: ['backup/m'], contextFallbacks: ['large/m'], contentFallbacks: ['large/m'] },
          plain: { targets: ['small/m'], fallbacks: ['backup/m'] },
        },
        routing: { breaker: breakerOff },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await Promise.all([small?.close(), backup?.close(), large?.close()]);
  });

  it('context_length_exceeded goes to the contextFallbacks target, not the ordinary fallback', async () => {
    const [b0, l0] = [backup.requests.length, large.requests.length];
    small.enqueue({ kind: 'status', status: 400, body: { error: tooLong } });
    const answer = await chat(gateway.url, { model: 'chat', content: 'a very long prompt' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.content, 'Echo: a very long prompt');
    assert.equal(answer.headers.get('x-spillway-provider'), 'large');
    assert.equal(answer.headers.get('x-spillway-attempts'), '2');
    assert.equal(large.requests.length - l0, 1);
    assert.equal(backup.requests.length - b0, 0, 'the ordinary fallback is not the place for a long prompt');
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'small/m', failure: 'context_length', status: 400 },
      { target: 'large/m', status: 200 },
    ]);
  });

  it('context_length_error_rewritten: context_length_exceeded without a context chain is returned as is, with no fallback', async () => {
    const [b0, l0] = [backup.requests.length, large.requests.length];
    small.enqueue({ kind: 'status', status: 400, body: { error: tooLong } });
    const answer = await chat(gateway.url, { model: 'plain', content: 'a very long prompt' });
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.deepEqual(answer.error, { message: tooLong.message, type: tooLong.type, code: tooLong.code });
    assert.equal(backup.requests.length - b0, 0);
    assert.equal(large.requests.length - l0, 0);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [{ target: 'small/m', failure: 'context_length', status: 400 }]);
  });

  it('a content-policy refusal goes to the contentFallbacks target', async () => {
    const [b0, l0] = [backup.requests.length, large.requests.length];
    small.enqueue({ kind: 'status', status: 400, body: { error: refused } });
    const answer = await chat(gateway.url, { model: 'chat', content: 'something touchy' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'large');
    assert.equal(large.requests.length - l0, 1);
    assert.equal(backup.requests.length - b0, 0);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'small/m', failure: 'content_filter', status: 400 },
      { target: 'large/m', status: 200 },
    ]);
  });
});
