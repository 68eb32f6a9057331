import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatRequest } from '#libs/contracts/chat.ts';
import { toMessagesRequest } from './request.ts';

const defaults = { maxTokens: 4096 };

function translate(request: { messages: ChatRequest['messages']; [field: string]: unknown }, stream = false): unknown {
  return toMessagesRequest({ ...request, model: 'alias' }, 'claude-sonnet-4-5', defaults, stream);
}

describe('toMessagesRequest', () => {
  it('sends the provider model, the default max_tokens and a plain user turn', () => {
    assert.deepEqual(translate({ messages: [{ role: 'user', content: 'hi' }] }), {
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'hi' }],
    });
  });

  it('takes max_completion_tokens over max_tokens, and max_tokens over the default', () => {
    const both = translate({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, max_completion_tokens: 70 }) as { max_tokens: number };
    assert.equal(both.max_tokens, 70);
    const one = translate({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 }) as { max_tokens: number };
    assert.equal(one.max_tokens, 50);
  });

  it('lifts system and developer turns to one system string, wherever they stand', () => {
    assert.deepEqual(
      translate({
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hi' },
          { role: 'developer', content: 'use French' },
        ],
      }),
      { model: 'claude-sonnet-4-5', max_tokens: 4096, system: 'be brief\n\nuse French', messages: [{ role: 'user', content: 'hi' }] },
    );
  });

  it('keeps system text blocks, with their cache_control, when a system turn has parts', () => {
    const body = translate({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'long context', cache_control: { type: 'ephemeral' } }] },
        { role: 'system', content: 'rules' },
        { role: 'user', content: 'hi' },
      ],
    }) as { system: unknown };
    assert.deepEqual(body.system, [
      { type: 'text', text: 'long context', cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'rules' },
    ]);
  });

  it('merges consecutive same-role turns into one turn of blocks', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'one' },
        { role: 'user', content: [{ type: 'text', text: 'two' }] },
        { role: 'assistant', content: 'three' },
        { role: 'assistant', content: 'four' },
      ],
    }) as { messages: unknown };
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'three' }, { type: 'text', text: 'four' }] },
    ]);
  });

  it('maps temperature (at most 1), top_p, stop and user', () => {
    const body = translate({ messages: [{ role: 'user', content: 'hi' }], temperature: 1.6, top_p: 0.9, stop: 'END', user: 'user-42' });
    assert.deepEqual(body, {
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'hi' }],
      temperature: 1,
      top_p: 0.9,
      stop_sequences: ['END'],
      metadata: { user_id: 'user-42' },
    });
    const list = translate({ messages: [{ role: 'user', content: 'hi' }], temperature: 0.2, stop: ['a', 'b'] }) as Record<string, unknown>;
    assert.equal(list.temperature, 0.2);
    assert.deepEqual(list.stop_sequences, ['a', 'b']);
  });

  it('drops the OpenAI-only fields Anthropic would reject', () => {
    const body = translate({
      messages: [{ role: 'user', content: 'hi' }],
      n: 1,
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: 0.5,
      logprobs: false,
      stream_options: { include_usage: true },
      fallbacks: ['other/model'],
      metadata: { team: 'a' },
      stop: null,
    });
    assert.deepEqual(body, { model: 'claude-sonnet-4-5', max_tokens: 4096, messages: [{ role: 'user', content: 'hi' }] });
  });

  it('asks for a stream with stream: true', () => {
    assert.deepEqual(translate({ messages: [{ role: 'user', content: 'hi' }], stream: true }, true), {
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
  });

  it('turns function tools into name, description and input_schema', () => {
    const body = translate({
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [
        { type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true } },
        { type: 'function', function: { name: 'now' } },
      ],
    }) as Record<string, unknown>;
    assert.deepEqual(body.tools, [
      { name: 'get_weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
    assert.equal(body.tool_choice, undefined);
  });

  it('maps tool_choice auto, none, required and a named function, and parallel_tool_calls: false', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    const choice = (tool_choice: unknown, parallel_tool_calls?: boolean): unknown =>
      (translate({ messages: [{ role: 'user', content: 'x' }], tools, tool_choice, parallel_tool_calls }) as Record<string, unknown>).tool_choice;
    assert.deepEqual(choice('auto'), { type: 'auto' });
    assert.deepEqual(choice('none'), { type: 'none' });
    assert.deepEqual(choice('required'), { type: 'any' });
    assert.deepEqual(choice({ type: 'function', function: { name: 'f' } }), { type: 'tool', name: 'f' });
    assert.deepEqual(choice('required', false), { type: 'any', disable_parallel_tool_use: true });
    assert.deepEqual(choice(undefined, false), { type: 'auto', disable_parallel_tool_use: true });
    assert.equal(choice(undefined), undefined);
    // Without tools a tool_choice means nothing, and Anthropic rejects it.
    const toolless = translate({ messages: [{ role: 'user', content: 'x' }], tool_choice: 'required' }) as Record<string, unknown>;
    assert.equal(toolless.tool_choice, undefined);
  });

  it('turns assistant tool_calls into tool_use blocks and tool turns into one user turn of tool_result blocks', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: 'Checking both.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
        { role: 'user', content: 'thanks' },
      ],
    }) as { messages: unknown };
    assert.deepEqual(body.messages, [
      { role: 'user', content: 'weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking both.' },
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny' },
          { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
          { type: 'text', text: 'thanks' },
        ],
      },
    ]);
  });

  it('sends an assistant turn of only tool calls (content null or empty) as tool_use blocks alone', () => {
    for (const content of [null, '']) {
      const body = translate({
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content, tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'now', arguments: '' } }] },
        ],
      }) as { messages: unknown[] };
      assert.deepEqual(body.messages[1], { role: 'assistant', content: [{ type: 'tool_use', id: 'call_9', name: 'now', input: {} }] });
    }
  });

  it('sends tool arguments that are not a JSON object as an empty input', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"city":"Par' } }] },
      ],
    }) as { messages: { content: unknown }[] };
    assert.deepEqual(body.messages[1].content, [{ type: 'tool_use', id: 'c', name: 'f', input: {} }]);
  });

  it('skips an empty assistant turn, so the user turns around it merge', () => {
    const body = translate({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'b' },
      ],
    }) as { messages: unknown };
    assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }]);
  });

  it('turns data: image URLs into base64 sources and http URLs into url sources', () => {
    const body = translate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'compare' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
          ],
        },
      ],
    }) as { messages: unknown };
    assert.deepEqual(body.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'compare' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
        ],
      },
    ]);
  });

  it('turns a PDF file part into a document block, and passes parts it does not know through', () => {
    const body = translate({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain' } },
          ],
        },
      ],
    }) as { messages: unknown };
    assert.deepEqual(body.messages, [
      {
        role: 'user',
        content: [
          { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } },
          { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain' } },
        ],
      },
    ]);
  });
});
