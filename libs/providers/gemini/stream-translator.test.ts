// Streamed GenerateContentResponse events to chat.completion.chunks, expected values by hand.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GeminiStreamTranslator } from './stream-translator.ts';

function counter(prefix: string): () => string {
  let n = 0;
  return () => `${prefix}${++n}`;
}

void describe('GeminiStreamTranslator', () => {
  const base = { id: 'chatcmpl-r1', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gemini-2.5-flash' };
  const choice = (delta: Record<string, unknown>, finish: string | null = null, index = 0): Record<string, unknown> => ({ ...base, choices: [{ index, delta, logprobs: null, finish_reason: finish }] });

  void it('streams a role chunk, text deltas, the finish and a closing usage chunk', () => {
    const t = new GeminiStreamTranslator('gemini-2.5-flash', { now: () => 1_700_000_000 });
    const chunks = [
      ...t.push({ candidates: [{ content: { role: 'model', parts: [{ text: 'Hel' }] } }], usageMetadata: { promptTokenCount: 4, totalTokenCount: 4 }, responseId: 'r1' }),
      ...t.push({ candidates: [{ content: { role: 'model', parts: [{ text: 'lo' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 2, totalTokenCount: 6 }, responseId: 'r1' }),
    ];
    assert.equal(t.complete, true);
    chunks.push(t.usageChunk());
    assert.deepEqual(chunks, [
      choice({ role: 'assistant', content: '' }),
      choice({ content: 'Hel' }),
      choice({ content: 'lo' }),
      choice({}, 'stop'),
      { ...base, choices: [], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } } },
    ]);
  });

  void it('sends each function call whole, indexed in order, with generated ids', () => {
    const t = new GeminiStreamTranslator('gemini-2.5-flash', { now: () => 1_700_000_000, newToolCallId: counter('call_') });
    const chunks = [
      ...t.push({ candidates: [{ content: { parts: [{ text: 'Checking.' }] } }], responseId: 'r1' }),
      ...t.push({ candidates: [{ content: { parts: [{ functionCall: { name: 'a', args: { x: 1 } } }] } }], responseId: 'r1' }),
      ...t.push({ candidates: [{ content: { parts: [{ functionCall: { name: 'b', args: {} } }] }, finishReason: 'STOP' }], responseId: 'r1' }),
    ];
    assert.deepEqual(chunks, [
      choice({ role: 'assistant', content: '' }),
      choice({ content: 'Checking.' }),
      choice({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'a', arguments: '{"x":1}' } }] }),
      choice({ tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'b', arguments: '{}' } }] }),
      choice({}, 'tool_calls'),
    ]);
  });

  void it('is incomplete until every candidate has finished', () => {
    const t = new GeminiStreamTranslator('m');
    assert.equal(t.complete, false);
    t.push({ candidates: [{ content: { parts: [{ text: 'a' }] }, index: 0 }, { content: { parts: [{ text: 'b' }] }, index: 1, finishReason: 'STOP' }] });
    assert.equal(t.complete, false);
    t.push({ candidates: [{ content: { parts: [{ text: 'c' }] }, index: 0, finishReason: 'MAX_TOKENS' }] });
    assert.equal(t.complete, true);
  });

  void it('finishes with content_filter on a blocked prompt', () => {
    const t = new GeminiStreamTranslator('gemini-2.5-flash', { now: () => 1_700_000_000 });
    assert.deepEqual(t.push({ promptFeedback: { blockReason: 'SAFETY' }, responseId: 'r1' }), [choice({ role: 'assistant', content: '' }), choice({}, 'content_filter')]);
    assert.equal(t.complete, true);
  });
});
