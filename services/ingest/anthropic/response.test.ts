import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatCompletion } from '#libs/contracts/chat.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { anthropicMessageSchema } from './schema.ts';
import { chatToAnthropic } from './response.ts';

function completion(choice: Record<string, unknown>, usage?: Record<string, unknown>, id = 'chatcmpl-9xYz'): ChatCompletion {
  return {
    id,
    object: 'chat.completion',
    created: 1_760_000_000,
    model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, logprobs: null, ...choice }],
    ...(usage ? { usage: usage as ChatCompletion['usage'] } : {}),
  };
}

const usage = { prompt_tokens: 25, completion_tokens: 12, total_tokens: 37 };

describe('chatToAnthropic', () => {
  it('a text answer becomes a Message with one text block, the requested model and end_turn', () => {
    const message = chatToAnthropic(completion({ message: { role: 'assistant', content: 'Hello!', refusal: null }, finish_reason: 'stop' }, usage), 'claude-sonnet-4-5');
    assert.deepEqual(message, {
      id: 'msg_9xYz',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [{ type: 'text', text: 'Hello!' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 25, output_tokens: 12 },
    });
    assert.ok(anthropicMessageSchema.safeParse(message).success);
  });

  it('cached prompt tokens are reported apart, and input_tokens is only the uncached part', () => {
    const message = chatToAnthropic(
      completion(
        { message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' },
        { prompt_tokens: 2006, completion_tokens: 300, total_tokens: 2306, prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 } },
      ),
      'claude-sonnet-4-5',
    );
    assert.deepEqual(message.usage, { input_tokens: 86, output_tokens: 300, cache_read_input_tokens: 1920 });
  });

  it('cached_tokens of 0 is still reported, as Anthropic does', () => {
    const message = chatToAnthropic(
      completion({ message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }, { ...usage, prompt_tokens_details: { cached_tokens: 0 } }),
      'm',
    );
    assert.deepEqual(message.usage, { input_tokens: 25, output_tokens: 12, cache_read_input_tokens: 0 });
  });

  it('no usage from the provider is zero usage, not a missing field', () => {
    const message = chatToAnthropic(completion({ message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }), 'm');
    assert.deepEqual(message.usage, { input_tokens: 0, output_tokens: 0 });
  });

  for (const [finish, stop] of [
    ['stop', 'end_turn'],
    ['length', 'max_tokens'],
    ['tool_calls', 'tool_use'],
    ['function_call', 'tool_use'],
    ['content_filter', 'refusal'],
    [null, 'end_turn'],
  ] as const) {
    it(`finish_reason ${String(finish)} is stop_reason ${stop}`, () => {
      const message = chatToAnthropic(completion({ message: { role: 'assistant', content: 'x' }, finish_reason: finish }), 'm');
      assert.equal(message.stop_reason, stop);
      assert.equal(message.stop_sequence, null);
    });
  }

  it('a stop sequence the provider reports (stop_sequence on the choice) is stop_sequence', () => {
    const message = chatToAnthropic(completion({ message: { role: 'assistant', content: 'one, two' }, finish_reason: 'stop', stop_sequence: 'three' }), 'm');
    assert.equal(message.stop_reason, 'stop_sequence');
    assert.equal(message.stop_sequence, 'three');
  });

  it('a vLLM-style matched stop string (stop_reason on the choice) is stop_sequence', () => {
    const message = chatToAnthropic(completion({ message: { role: 'assistant', content: 'one, two' }, finish_reason: 'stop', stop_reason: '\n\n' }), 'm');
    assert.equal(message.stop_reason, 'stop_sequence');
    assert.equal(message.stop_sequence, '\n\n');
  });

  it('tool calls become tool_use blocks with parsed input and the tool call ids kept', () => {
    const message = chatToAnthropic(
      completion(
        {
          message: {
            role: 'assistant',
            content: 'Checking both.',
            tool_calls: [
              { id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } },
              { id: 'call_Bx81', type: 'function', function: { name: 'get_time', arguments: '{}' } },
            ],
          },
          finish_reason: 'tool_calls',
        },
        usage,
      ),
      'claude-sonnet-4-5',
    );
    assert.deepEqual(message.content, [
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
      { type: 'tool_use', id: 'call_Bx81', name: 'get_time', input: {} },
    ]);
    assert.equal(message.stop_reason, 'tool_use');
    assert.ok(anthropicMessageSchema.safeParse(message).success);
  });

  it('a tool call finished with "stop" (some providers do) is still tool_use', () => {
    const message = chatToAnthropic(
      completion({ message: { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }, finish_reason: 'stop' }),
      'm',
    );
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(message.content, [{ type: 'tool_use', id: 'c1', name: 'f', input: { a: 1 } }]);
  });

  it('a tool call without an id gets a stable toolu_ id', () => {
    const message = chatToAnthropic(
      completion({ message: { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'f', arguments: '' } }] }, finish_reason: 'tool_calls' }),
      'm',
    );
    assert.deepEqual(message.content, [{ type: 'tool_use', id: 'toolu_9xYz_0', name: 'f', input: {} }]);
  });

  it('arguments that are not a JSON object in a finished answer fail as a 502', () => {
    for (const args of ['{"city": "Par', '[1,2]', '"x"']) {
      assert.throws(
        () => chatToAnthropic(completion({ message: { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'get_weather', arguments: args } }] }, finish_reason: 'tool_calls' }), 'm'),
        (err: unknown) => err instanceof GatewayError && err.status === 502 && err.body.code === 'invalid_tool_arguments' && err.message.includes("'get_weather'"),
      );
    }
  });

  it('arguments cut off by max_tokens become {} with stop_reason max_tokens', () => {
    const message = chatToAnthropic(
      completion({ message: { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"city": "Par' } }] }, finish_reason: 'length' }),
      'm',
    );
    assert.equal(message.stop_reason, 'max_tokens');
    assert.deepEqual(message.content, [{ type: 'tool_use', id: 'c', name: 'f', input: {} }]);
  });

  it('empty content yields no empty text block', () => {
    const message = chatToAnthropic(completion({ message: { role: 'assistant', content: '' }, finish_reason: 'stop' }), 'm');
    assert.deepEqual(message.content, []);
  });

  it('content given as parts becomes one text block per text part', () => {
    const message = chatToAnthropic(
      completion({ message: { role: 'assistant', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, finish_reason: 'stop' }),
      'm',
    );
    assert.deepEqual(message.content, [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }]);
  });

  it('an OpenAI refusal becomes its text with stop_reason refusal', () => {
    const message = chatToAnthropic(completion({ message: { role: 'assistant', content: null, refusal: 'I can’t help with that.' }, finish_reason: 'stop' }), 'm');
    assert.deepEqual(message.content, [{ type: 'text', text: 'I can’t help with that.' }]);
    assert.equal(message.stop_reason, 'refusal');
  });

  it('an id that is already a message id is kept', () => {
    const message = chatToAnthropic(completion({ message: { role: 'assistant', content: 'x' }, finish_reason: 'stop' }, usage, 'msg_01XFDUDYJgAACzvnptvVoYEL'), 'm');
    assert.equal(message.id, 'msg_01XFDUDYJgAACzvnptvVoYEL');
  });

  it('a completion with no choices is an empty end_turn message', () => {
    const message = chatToAnthropic({ ...completion({}), choices: [] }, 'm');
    assert.deepEqual(message.content, []);
    assert.equal(message.stop_reason, 'end_turn');
  });

  it('a choice without a message fails as a 502, not a crash', () => {
    assert.throws(
      () => chatToAnthropic(completion({ finish_reason: 'stop' }), 'm'),
      (err: unknown) => err instanceof GatewayError && err.status === 502 && err.body.code === 'invalid_upstream_response',
    );
  });
});
