import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { anthropicToChat } from './request.ts';

const base = { model: 'claude-sonnet-4-5', max_tokens: 256 };

/** The 400 anthropicToChat throws for `body`; fails when it throws nothing or something else. */
function rejection(body: unknown): GatewayError {
  try {
    anthropicToChat(body);
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.body.type, 'invalid_request_error');
    return err;
  }
  assert.fail('expected anthropicToChat to throw');
}

describe('anthropicToChat: translation', () => {
  it('a plain user message becomes the same OpenAI message, max_tokens kept', () => {
    assert.deepEqual(anthropicToChat({ ...base, messages: [{ role: 'user', content: 'Hello' }] }), {
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 256,
    });
  });

  it('a system string is lifted into a first system message', () => {
    const chat = anthropicToChat({ ...base, system: 'Be terse.', messages: [{ role: 'user', content: 'Hi' }] });
    assert.deepEqual(chat.messages, [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'Hi' },
    ]);
  });

  it('system text blocks are joined as paragraphs, cache_control dropped', () => {
    const chat = anthropicToChat({
      ...base,
      system: [
        { type: 'text', text: 'You are a pirate.' },
        { type: 'text', text: 'Answer in rhyme.', cache_control: { type: 'ephemeral' } },
      ],
      messages: [{ role: 'user', content: 'Hi' }],
    });
    assert.deepEqual(chat.messages[0], { role: 'system', content: 'You are a pirate.\n\nAnswer in rhyme.' });
  });

  it('an empty system prompt adds no system message', () => {
    assert.deepEqual(anthropicToChat({ ...base, system: '', messages: [{ role: 'user', content: 'Hi' }] }).messages, [{ role: 'user', content: 'Hi' }]);
    assert.deepEqual(anthropicToChat({ ...base, system: [], messages: [{ role: 'user', content: 'Hi' }] }).messages, [{ role: 'user', content: 'Hi' }]);
  });

  it('sampling fields map; top_k and unknown fields are dropped; metadata.user_id becomes user', () => {
    const chat = anthropicToChat({
      ...base,
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0.3,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['\n\nHuman:', 'END'],
      metadata: { user_id: 'user-42' },
      thinking: { type: 'enabled', budget_tokens: 1024 },
      service_tier: 'auto',
    });
    assert.deepEqual(chat, {
      model: 'claude-sonnet-4-5',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 256,
      temperature: 0.3,
      top_p: 0.9,
      stop: ['\n\nHuman:', 'END'],
      user: 'user-42',
    });
  });

  it('stream: true asks for usage, which message_start and message_delta report', () => {
    const chat = anthropicToChat({ ...base, stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(chat.stream, true);
    assert.deepEqual(chat.stream_options, { include_usage: true });
    const sync = anthropicToChat({ ...base, stream: false, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(sync.stream, undefined);
    assert.equal(sync.stream_options, undefined);
  });

  it('Spillway fallbacks pass through as on the OpenAI surface', () => {
    const chat = anthropicToChat({ ...base, fallbacks: ['gpt-4o-mini'], messages: [{ role: 'user', content: 'Hi' }] });
    assert.deepEqual(chat.fallbacks, ['gpt-4o-mini']);
  });

  it('images become image_url parts: base64 as a data URL, url as is', () => {
    const chat = anthropicToChat({
      ...base,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            { type: 'text', text: 'What is in these pictures?' },
          ],
        },
      ],
    });
    assert.deepEqual(chat.messages, [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          { type: 'text', text: 'What is in these pictures?' },
        ],
      },
    ]);
  });

  it('tools, tool_use and tool_result make the OpenAI tool round trip', () => {
    const chat = anthropicToChat({
      ...base,
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather for a city',
          input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
        { name: 'get_time', input_schema: { type: 'object', properties: {} } },
      ],
      messages: [
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me check.' },
            { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_01B', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01A', content: '18°C, cloudy' },
            { type: 'tool_result', tool_use_id: 'toolu_01B', content: [{ type: 'text', text: '14:05' }] },
            { type: 'text', text: 'Thanks!' },
          ],
        },
      ],
    });
    assert.deepEqual(chat.tools, [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ]);
    assert.deepEqual(chat.messages, [
      { role: 'user', content: 'Weather and time in Paris?' },
      {
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [
          { id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_01B', type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_01A', content: '18°C, cloudy' },
      { role: 'tool', tool_call_id: 'toolu_01B', content: '14:05' },
      { role: 'user', content: [{ type: 'text', text: 'Thanks!' }] },
    ]);
    assert.equal(chat.tool_choice, undefined);
  });

  it('an assistant turn of tool_use only has null content', () => {
    const chat = anthropicToChat({
      ...base,
      messages: [
        { role: 'user', content: 'Time?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_time', input: { tz: 'UTC' } }] },
      ],
    });
    assert.deepEqual(chat.messages[1], {
      role: 'assistant',
      content: null,
      tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_time', arguments: '{"tz":"UTC"}' } }],
    });
  });

  it('a user turn of tool results only adds no empty user message', () => {
    const chat = anthropicToChat({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'ok' }] }] });
    assert.deepEqual(chat.messages, [{ role: 'tool', tool_call_id: 'toolu_1', content: 'ok' }]);
  });

  it('tool_result: text blocks joined by newlines, is_error marked, no content is empty', () => {
    const chat = anthropicToChat({
      ...base,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'line one' }, { type: 'text', text: 'line two' }] },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: 'city not found', is_error: true },
            { type: 'tool_result', tool_use_id: 'toolu_3' },
          ],
        },
      ],
    });
    assert.deepEqual(chat.messages, [
      { role: 'tool', tool_call_id: 'toolu_1', content: 'line one\nline two' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: city not found' },
      { role: 'tool', tool_call_id: 'toolu_3', content: '' },
    ]);
  });

  it('an image a tool returned reaches the model in the user turn after the tool messages', () => {
    const chat = anthropicToChat({
      ...base,
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_shot',
              content: [
                { type: 'text', text: 'screenshot taken' },
                { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
              ],
            },
          ],
        },
      ],
    });
    assert.deepEqual(chat.messages, [
      { role: 'tool', tool_call_id: 'toolu_shot', content: 'screenshot taken' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } }] },
    ]);
  });

  it('thinking blocks in the history are dropped; assistant text blocks are concatenated', () => {
    const chat = anthropicToChat({
      ...base,
      messages: [
        { role: 'user', content: 'Hi' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'The user greets me.', signature: 'sig' },
            { type: 'redacted_thinking', data: 'opaque' },
            { type: 'text', text: 'Hello' },
            { type: 'text', text: ' there.' },
          ],
        },
        { role: 'user', content: 'How are you?' },
      ],
    });
    assert.deepEqual(chat.messages, [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello there.' },
      { role: 'user', content: 'How are you?' },
    ]);
  });

  const tools = [{ name: 'lookup', input_schema: { type: 'object' } }];
  for (const [choice, expected, parallel] of [
    [{ type: 'auto' }, 'auto', undefined],
    [{ type: 'any' }, 'required', undefined],
    [{ type: 'tool', name: 'lookup' }, { type: 'function', function: { name: 'lookup' } }, undefined],
    [{ type: 'none' }, 'none', undefined],
    [{ type: 'auto', disable_parallel_tool_use: true }, 'auto', false],
    [{ type: 'any', disable_parallel_tool_use: false }, 'required', undefined],
  ] as const) {
    it(`tool_choice ${JSON.stringify(choice)} becomes ${JSON.stringify(expected)}`, () => {
      const chat = anthropicToChat({ ...base, tools, tool_choice: choice, messages: [{ role: 'user', content: 'Hi' }] });
      assert.deepEqual(chat.tool_choice, expected);
      assert.equal(chat.parallel_tool_calls, parallel);
    });
  }

  it('tool_choice without tools is not sent (OpenAI rejects it)', () => {
    const chat = anthropicToChat({ ...base, tool_choice: { type: 'auto' }, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(chat.tool_choice, undefined);
    assert.equal(chat.tools, undefined);
  });
});

describe('anthropicToChat: validation errors name the field and the expectation', () => {
  const messages = [{ role: 'user', content: 'Hi' }];

  for (const [name, body] of [
    ['null', null],
    ['an array', [base]],
    ['a string', 'hello'],
  ] as const) {
    it(`a body that is ${name} is invalid_request_body`, () => {
      const err = rejection(body);
      assert.equal(err.message, 'The request body must be a JSON object.');
      assert.equal(err.body.code, 'invalid_request_body');
    });
  }

  it('missing max_tokens', () => {
    const err = rejection({ model: 'claude-sonnet-4-5', messages });
    assert.equal(err.message, "Missing required parameter: 'max_tokens'.");
    assert.equal(err.body.param, 'max_tokens');
    assert.equal(err.body.code, 'missing_required_parameter');
  });

  it('missing model', () => {
    const err = rejection({ max_tokens: 10, messages });
    assert.equal(err.message, "Missing required parameter: 'model'.");
  });

  it('missing messages', () => {
    assert.equal(rejection(base).message, "Missing required parameter: 'messages'.");
  });

  it('empty messages', () => {
    const err = rejection({ ...base, messages: [] });
    assert.equal(err.message, "Invalid value for 'messages': expected at least 1 item.");
    assert.equal(err.body.code, 'invalid_value');
  });

  it('max_tokens of 0 and of 1.5', () => {
    assert.equal(rejection({ ...base, max_tokens: 0, messages }).message, "Invalid value for 'max_tokens': expected a number >= 1.");
    assert.equal(rejection({ ...base, max_tokens: 1.5, messages }).message, "Invalid value for 'max_tokens': expected an integer.");
  });

  it('max_tokens as a string', () => {
    assert.equal(rejection({ ...base, max_tokens: '100', messages }).message, "Invalid value for 'max_tokens': expected a number.");
  });

  it('temperature above Anthropic’s 1', () => {
    const err = rejection({ ...base, temperature: 1.5, messages });
    assert.equal(err.message, "Invalid value for 'temperature': expected a number <= 1.");
    assert.equal(err.body.param, 'temperature');
  });

  it('a system role inside messages', () => {
    const err = rejection({ ...base, messages: [{ role: 'system', content: 'x' }] });
    assert.equal(err.message, "Invalid value for 'messages[0].role': expected \"user\" or \"assistant\".");
    assert.equal(err.body.param, 'messages[0].role');
  });

  it('a message without content', () => {
    assert.equal(rejection({ ...base, messages: [{ role: 'user' }] }).message, "Missing required parameter: 'messages[0].content'.");
  });

  it('a user turn with no blocks', () => {
    assert.equal(rejection({ ...base, messages: [{ role: 'user', content: [] }] }).message, "Invalid value for 'messages[0].content': expected at least 1 item.");
  });

  it('content that is neither a string nor blocks', () => {
    const err = rejection({ ...base, messages: [{ role: 'user', content: 42 }] });
    assert.equal(err.message, "Invalid value for 'messages[0].content': expected a string or an array.");
    assert.equal(err.body.param, 'messages[0].content');
  });

  it('an unsupported block type names the block and lists the types the role allows', () => {
    const err = rejection({
      ...base,
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: [{ type: 'text', text: 'Read this' }, { type: 'document', source: { type: 'text', data: 'x' } }] },
      ],
    });
    assert.equal(err.message, "Invalid value for 'messages[2].content[1].type': expected \"text\" or \"image\" or \"tool_result\".");
    assert.equal(err.body.param, 'messages[2].content[1].type');
  });

  it('tool_use is refused in a user turn', () => {
    const err = rejection({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'n', input: {} }] }] });
    assert.equal(err.body.param, 'messages[0].content[0].type');
  });

  it('an image is refused in an assistant turn', () => {
    const err = rejection({
      ...base,
      messages: [{ role: 'assistant', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }] }],
    });
    assert.equal(err.message, "Invalid value for 'messages[0].content[0].type': expected \"text\" or \"tool_use\" or \"thinking\" or \"redacted_thinking\".");
  });

  it('a text block without text', () => {
    assert.equal(rejection({ ...base, messages: [{ role: 'user', content: [{ type: 'text' }] }] }).message, "Missing required parameter: 'messages[0].content[0].text'.");
  });

  it('an image of an unsupported media type', () => {
    const err = rejection({
      ...base,
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'Qk0=' } }] }],
    });
    assert.equal(err.message, "Invalid value for 'messages[0].content[0].source.media_type': expected \"image/jpeg\" or \"image/png\" or \"image/gif\" or \"image/webp\".");
  });

  it('a tool_use whose input is not an object', () => {
    const err = rejection({ ...base, messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'n', input: 'x' }] }] });
    assert.equal(err.body.param, 'messages[0].content[0].input');
    assert.equal(err.message, "Invalid value for 'messages[0].content[0].input': expected an object.");
  });

  it('a bad block inside a tool_result is reported where it is', () => {
    const err = rejection({
      ...base,
      messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 7 }] }] }],
    });
    assert.equal(err.message, "Invalid value for 'messages[0].content[0].content[0].text': expected a string.");
  });

  it('a tool_result without tool_use_id', () => {
    assert.equal(
      rejection({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'x' }] }] }).message,
      "Missing required parameter: 'messages[0].content[0].tool_use_id'.",
    );
  });

  it('a tool without input_schema', () => {
    assert.equal(rejection({ ...base, messages, tools: [{ name: 'lookup' }] }).message, "Missing required parameter: 'tools[0].input_schema'.");
  });

  it('a server tool is refused for what it is', () => {
    const err = rejection({ ...base, messages, tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }] });
    assert.equal(err.message, "Invalid value for 'tools[0].type': expected \"custom\"; server tools are not supported on this gateway.");
  });

  it('tool_choice of type tool without a name', () => {
    const err = rejection({ ...base, messages, tools: [{ name: 'lookup', input_schema: { type: 'object' } }], tool_choice: { type: 'tool' } });
    assert.equal(err.message, "Missing required parameter: 'tool_choice.name'.");
  });

  it('an unknown tool_choice type', () => {
    const err = rejection({ ...base, messages, tool_choice: { type: 'required' } });
    assert.equal(err.message, "Invalid value for 'tool_choice.type': expected \"auto\" or \"any\" or \"tool\" or \"none\".");
  });

  it('stop_sequences that are not strings', () => {
    assert.equal(rejection({ ...base, messages, stop_sequences: ['a', 3] }).message, "Invalid value for 'stop_sequences[1]': expected a string.");
  });
});
