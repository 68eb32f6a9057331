import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatChunk } from '#libs/contracts/chat.ts';
import { StreamTranslator } from './stream-translator.ts';
import { streamEventSchema, type StreamEvent } from './wire.ts';

const created = 1_750_000_000;

function run(events: unknown[]): { chunks: ChatChunk[]; finished: boolean } {
  const translator = new StreamTranslator(created);
  const chunks = events.flatMap((e) => translator.translate(streamEventSchema.parse(e) as StreamEvent));
  return { chunks, finished: translator.finished };
}

const start = {
  type: 'message_start',
  message: {
    id: 'msg_01xyz',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 25, cache_creation_input_tokens: 100, cache_read_input_tokens: 900, output_tokens: 1 },
  },
};

const chunk = (delta: Record<string, unknown>, finish: string | null = null): ChatChunk => ({
  id: 'msg_01xyz',
  object: 'chat.completion.chunk',
  created,
  model: 'claude-sonnet-4-5',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});

describe('StreamTranslator', () => {
  it('streams text: role first, one chunk per text delta, the finish reason, then usage with no choices', () => {
    const { chunks, finished } = run([
      start,
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' there' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 7 } },
      { type: 'message_stop' },
    ]);
    assert.equal(finished, true);
    assert.deepEqual(chunks, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Hello' }),
      chunk({ content: ' there' }),
      chunk({}, 'stop'),
      {
        id: 'msg_01xyz',
        object: 'chat.completion.chunk',
        created,
        model: 'claude-sonnet-4-5',
        choices: [],
        usage: { prompt_tokens: 1025, completion_tokens: 7, total_tokens: 1032, prompt_tokens_details: { cached_tokens: 900 } },
      },
    ]);
  });

  it('numbers tool calls by their own count, not by content block, and streams their arguments', () => {
    const { chunks } = run([
      start,
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'which city' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Checking.' } },
      { type: 'content_block_stop', index: 1 },
      { type: 'content_block_start', index: 2, content_block: { type: 'tool_use', id: 'toolu_a', name: 'get_weather', input: {} } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '{"city": ' } },
      { type: 'content_block_delta', index: 2, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
      { type: 'content_block_stop', index: 2 },
      { type: 'content_block_start', index: 3, content_block: { type: 'tool_use', id: 'toolu_b', name: 'now', input: {} } },
      { type: 'content_block_delta', index: 3, delta: { type: 'input_json_delta', partial_json: '{}' } },
      { type: 'content_block_stop', index: 3 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 30 } },
      { type: 'message_stop' },
    ]);
    assert.deepEqual(chunks.slice(0, -1), [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Checking.' }),
      chunk({ tool_calls: [{ index: 0, id: 'toolu_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city": ' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'toolu_b', type: 'function', function: { name: 'now', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
    ]);
  });

  it('takes the cumulative counts a newer message_delta repeats', () => {
    const { chunks } = run([
      start,
      { type: 'message_delta', delta: { stop_reason: 'max_tokens' }, usage: { input_tokens: 30, cache_creation_input_tokens: null, cache_read_input_tokens: 900, output_tokens: 12 } },
      { type: 'message_stop' },
    ]);
    assert.deepEqual(chunks.slice(1), [
      chunk({}, 'length'),
      {
        id: 'msg_01xyz',
        object: 'chat.completion.chunk',
        created,
        model: 'claude-sonnet-4-5',
        choices: [],
        usage: { prompt_tokens: 1030, completion_tokens: 12, total_tokens: 1042, prompt_tokens_details: { cached_tokens: 900 } },
      },
    ]);
  });

  it('is not finished before message_stop', () => {
    const { finished } = run([start, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }]);
    assert.equal(finished, false);
  });

  it('sends a tool call whose whole input came in content_block_start as its arguments', () => {
    const { chunks } = run([start, { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't', name: 'f', input: { a: 1 } } }]);
    assert.deepEqual(chunks[1], chunk({ tool_calls: [{ index: 0, id: 't', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }));
  });
});
