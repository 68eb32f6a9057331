// GenerateContentResponse to chat.completion, with expected values written by hand from Google's
// REST reference (candidates, finishReason, promptFeedback, usageMetadata).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { finishReasonOf, fromGeminiResponse, usageOf } from './response.ts';

function counter(prefix: string): () => string {
  let n = 0;
  return () => `${prefix}${++n}`;
}

void describe('fromGeminiResponse', () => {
  const ctx = { newToolCallId: counter('call_'), newCompletionId: () => 'chatcmpl-fixed', now: () => 1_700_000_000 };

  void it('joins text parts, leaves thought summaries out, and maps usage', () => {
    const completion = fromGeminiResponse({
      candidates: [{ content: { role: 'model', parts: [{ text: 'thinking…', thought: true }, { text: 'Hello' }, { text: ', world' }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 4, thoughtsTokenCount: 6, cachedContentTokenCount: 3, totalTokenCount: 20 },
      modelVersion: 'gemini-2.5-flash-001',
      responseId: 'abc123',
    }, 'gemini-2.5-flash', ctx);
    assert.deepEqual(completion, {
      id: 'chatcmpl-abc123',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'gemini-2.5-flash-001',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello, world' }, logprobs: null, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 10,
        completion_tokens: 10,
        total_tokens: 20,
        prompt_tokens_details: { cached_tokens: 3 },
        completion_tokens_details: { reasoning_tokens: 6 },
      },
    });
  });

  void it('turns functionCall parts into tool_calls with generated ids and finish_reason tool_calls', () => {
    const completion = fromGeminiResponse({
      candidates: [{
        content: { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2ln' }, { functionCall: { name: 'get_time' } }] },
        finishReason: 'STOP',
      }],
    }, 'gemini-2.5-flash', { ...ctx, newToolCallId: counter('call_') });
    assert.deepEqual(completion?.choices, [{
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' }, extra_content: { google: { thought_signature: 'c2ln' } } },
          { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    }]);
    assert.equal(completion?.id, 'chatcmpl-fixed');
    assert.equal(completion?.model, 'gemini-2.5-flash');
  });

  void it('generates distinct call_ ids by default', () => {
    const completion = fromGeminiResponse({ candidates: [{ content: { parts: [{ functionCall: { name: 'a', args: {} } }, { functionCall: { name: 'b', args: {} } }] }, finishReason: 'STOP' }] }, 'm');
    const calls = (completion?.choices[0]?.message as { tool_calls: { id: string }[] }).tool_calls;
    assert.match(calls[0].id, /^call_[0-9a-f]{24}$/);
    assert.notEqual(calls[0].id, calls[1].id);
  });

  void it('maps a safety stop to content_filter and a blocked prompt to content_filter', () => {
    const safety = fromGeminiResponse({ candidates: [{ finishReason: 'SAFETY', index: 0, safetyRatings: [{ category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'HIGH', blocked: true }] }] }, 'm', ctx);
    assert.deepEqual(safety?.choices, [{ index: 0, message: { role: 'assistant', content: null }, logprobs: null, finish_reason: 'content_filter' }]);
    const blocked = fromGeminiResponse({ promptFeedback: { blockReason: 'PROHIBITED_CONTENT' }, usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 } }, 'm', ctx);
    assert.deepEqual(blocked?.choices, [{ index: 0, message: { role: 'assistant', content: null }, logprobs: null, finish_reason: 'content_filter' }]);
    assert.deepEqual(blocked?.usage, { prompt_tokens: 5, completion_tokens: 0, total_tokens: 5, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } });
  });

  void it('keeps one choice per candidate', () => {
    const completion = fromGeminiResponse({
      candidates: [
        { content: { parts: [{ text: 'one' }] }, finishReason: 'STOP', index: 0 },
        { content: { parts: [{ text: 'two' }] }, finishReason: 'MAX_TOKENS', index: 1 },
      ],
    }, 'm', ctx);
    assert.deepEqual(completion?.choices.map((c) => [c.index, c.finish_reason]), [[0, 'stop'], [1, 'length']]);
  });

  void it('refuses a body that is not a GenerateContentResponse', () => {
    assert.equal(fromGeminiResponse('<html>', 'm'), undefined);
    assert.equal(fromGeminiResponse({ hello: 'world' }, 'm'), undefined);
  });
});

void describe('finishReasonOf', () => {
  void it('maps Gemini finish reasons to OpenAI ones', () => {
    assert.equal(finishReasonOf('STOP', false), 'stop');
    assert.equal(finishReasonOf('STOP', true), 'tool_calls');
    assert.equal(finishReasonOf('MAX_TOKENS', true), 'length');
    for (const reason of ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII']) assert.equal(finishReasonOf(reason, false), 'content_filter');
    assert.equal(finishReasonOf('OTHER', false), 'stop');
    assert.equal(finishReasonOf(undefined, false), undefined);
  });
});

void describe('usageOf', () => {
  void it('counts tool-use prompt tokens as prompt and thoughts as completion', () => {
    assert.deepEqual(usageOf({ promptTokenCount: 7, toolUsePromptTokenCount: 2, candidatesTokenCount: 3, thoughtsTokenCount: 4 }), {
      prompt_tokens: 9,
      completion_tokens: 7,
      total_tokens: 16,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 4 },
    });
  });
});
