import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { finishReason, toChatCompletion, toUsage } from './response.ts';
import type { AnthropicMessage } from './wire.ts';

/** The first choice as the chat shape has it; the canonical type leaves choices loose. */
function firstMessage(completion: ReturnType<typeof toChatCompletion>): { content: unknown; tool_calls?: unknown[] } {
  return (completion.choices[0] as unknown as { message: { content: unknown; tool_calls?: unknown[] } }).message;
}

function message(overrides: Partial<AnthropicMessage>): AnthropicMessage {
  return {
    id: 'msg_01abc',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [],
    stop_reason: 'end_turn',
    usage: { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 },
    ...overrides,
  };
}

describe('toChatCompletion', () => {
  it('joins text blocks into the message content', () => {
    assert.deepEqual(toChatCompletion(message({ content: [{ type: 'text', text: 'Hello, ' }, { type: 'text', text: 'world.' }] }), 1_750_000_000), {
      id: 'msg_01abc',
      object: 'chat.completion',
      created: 1_750_000_000,
      model: 'claude-sonnet-4-5-20250929',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello, world.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 0 } },
    });
  });

  it('turns tool_use blocks into tool_calls with JSON string arguments, and skips thinking', () => {
    const completion = toChatCompletion(
      message({
        stop_reason: 'tool_use',
        content: [
          { type: 'thinking', thinking: 'hmm', signature: 'sig' },
          { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris', days: 2 } },
          { type: 'tool_use', id: 'toolu_02', name: 'now', input: {} },
        ],
      }),
      1,
    );
    assert.deepEqual(completion.choices, [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","days":2}' } },
            { id: 'toolu_02', type: 'function', function: { name: 'now', arguments: '{}' } },
          ],
          refusal: null,
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ]);
  });

  it('keeps text that comes with tool calls', () => {
    const completion = toChatCompletion(
      message({ stop_reason: 'tool_use', content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 't', name: 'f', input: { a: 1 } }] }),
      1,
    );
    const reply = firstMessage(completion);
    assert.equal(reply.content, 'Let me check.');
    assert.equal(reply.tool_calls?.length, 1);
  });

  it('gives an empty string, not null, for a reply with no blocks at all', () => {
    assert.equal(firstMessage(toChatCompletion(message({ content: [] }), 1)).content, '');
  });
});

describe('finishReason', () => {
  it('maps every stop reason Anthropic documents', () => {
    assert.equal(finishReason('end_turn'), 'stop');
    assert.equal(finishReason('stop_sequence'), 'stop');
    assert.equal(finishReason('pause_turn'), 'stop');
    assert.equal(finishReason('max_tokens'), 'length');
    assert.equal(finishReason('model_context_window_exceeded'), 'length');
    assert.equal(finishReason('tool_use'), 'tool_calls');
    assert.equal(finishReason('refusal'), 'content_filter');
    assert.equal(finishReason('something_new'), 'stop');
    assert.equal(finishReason(null), null);
    assert.equal(finishReason(undefined), null);
  });
});

describe('toUsage', () => {
  it('counts cache writes and reads into prompt_tokens and reports the reads as cached', () => {
    assert.deepEqual(toUsage({ input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 2000, output_tokens: 40 }), {
      prompt_tokens: 2312,
      completion_tokens: 40,
      total_tokens: 2352,
      prompt_tokens_details: { cached_tokens: 2000 },
    });
  });

  it('reads absent and null counts as zero', () => {
    assert.deepEqual(toUsage({ input_tokens: 3, cache_creation_input_tokens: null, output_tokens: 1 }), {
      prompt_tokens: 3,
      completion_tokens: 1,
      total_tokens: 4,
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });
});
