// Hand-written expectations for the OpenAI ⇄ Converse translations, both ways, streams and errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatChunk, ChatRequest } from '#libs/contracts/chat.ts';
import { classify } from '#libs/routing/classify.ts';
import { UpstreamError } from '../provider.ts';
import { ConverseStreamTranslator, finishReason, toChatCompletion, toConverseRequest, toFailure, toUsage, type ConverseResponse } from './translate.ts';

const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

function request(fields: Partial<ChatRequest>): ChatRequest {
  return { model: 'anthropic.claude-3-haiku-20240307-v1:0', messages: [{ role: 'user', content: 'hi' }], ...fields };
}

function rejection(fn: () => unknown): UpstreamError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UpstreamError, `expected an UpstreamError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the translation to refuse the request');
}

void describe('toConverseRequest', () => {
  void it('moves system and developer messages into system blocks and keeps user text', () => {
    const body = toConverseRequest(request({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hello' },
      ],
    }));
    assert.deepEqual(body, {
      system: [{ text: 'Be brief.' }, { text: 'Answer in French.' }],
      messages: [{ role: 'user', content: [{ text: 'Hello' }] }],
    });
  });

  void it('merges consecutive same-role messages, and tool results into the next user turn', () => {
    const body = toConverseRequest(request({
      messages: [
        { role: 'user', content: 'What is the weather in Paris and Rome?' },
        { role: 'user', content: [{ type: 'text', text: 'Use the tool.' }] },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'tooluse_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'tooluse_2', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'tooluse_1', content: '18C, sunny' },
        { role: 'tool', tool_call_id: 'tooluse_2', content: [{ type: 'text', text: '21C' }] },
        { role: 'user', content: 'Thanks' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
    }));
    assert.deepEqual(body, {
      messages: [
        { role: 'user', content: [{ text: 'What is the weather in Paris and Rome?' }, { text: 'Use the tool.' }] },
        {
          role: 'assistant',
          content: [
            { text: 'Checking.' },
            { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } },
            { toolUse: { toolUseId: 'tooluse_2', name: 'get_weather', input: {} } },
          ],
        },
        {
          role: 'user',
          content: [
            { toolResult: { toolUseId: 'tooluse_1', content: [{ text: '18C, sunny' }] } },
            { toolResult: { toolUseId: 'tooluse_2', content: [{ text: '21C' }] } },
            { text: 'Thanks' },
          ],
        },
      ],
      toolConfig: {
        tools: [{ toolSpec: { name: 'get_weather', description: 'Current weather', inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } } }],
      },
    });
  });

  void it('drops blank text, which Bedrock rejects, and an assistant turn left empty', () => {
    const body = toConverseRequest(request({
      messages: [
        { role: 'user', content: 'one' },
        { role: 'assistant', content: '  ' },
        { role: 'user', content: [{ type: 'text', text: '' }, { type: 'text', text: 'two' }] },
      ],
    }));
    assert.deepEqual(body.messages, [{ role: 'user', content: [{ text: 'one' }, { text: 'two' }] }]);
  });

  void it('maps sampling parameters into inferenceConfig, preferring max_completion_tokens', () => {
    assert.deepEqual(toConverseRequest(request({ max_tokens: 10, max_completion_tokens: 20, temperature: 0.2, top_p: 0.9, stop: 'END' })).inferenceConfig, { maxTokens: 20, temperature: 0.2, topP: 0.9, stopSequences: ['END'] });
    assert.deepEqual(toConverseRequest(request({ max_tokens: 10, stop: ['a', 'b'] })).inferenceConfig, { maxTokens: 10, stopSequences: ['a', 'b'] });
    assert.equal(toConverseRequest(request({})).inferenceConfig, undefined);
  });

  void it('maps tool_choice auto, required and a named function; none drops the tools', () => {
    const tools = [{ type: 'function', function: { name: 'lookup' } }];
    const spec = [{ toolSpec: { name: 'lookup', inputSchema: { json: { type: 'object', properties: {} } } } }];
    assert.deepEqual(toConverseRequest(request({ tools, tool_choice: 'auto' })).toolConfig, { tools: spec, toolChoice: { auto: {} } });
    assert.deepEqual(toConverseRequest(request({ tools, tool_choice: 'required' })).toolConfig, { tools: spec, toolChoice: { any: {} } });
    assert.deepEqual(toConverseRequest(request({ tools, tool_choice: { type: 'function', function: { name: 'lookup' } } })).toolConfig, { tools: spec, toolChoice: { tool: { name: 'lookup' } } });
    assert.deepEqual(toConverseRequest(request({ tools })).toolConfig, { tools: spec });
    assert.equal(toConverseRequest(request({ tools, tool_choice: 'none' })).toolConfig, undefined);
  });

  void it('sends data: URL images inline as base64 bytes with their format', () => {
    const body = toConverseRequest(request({
      messages: [{ role: 'user', content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_BASE64}` } },
        { type: 'image_url', image_url: { url: 'data:image/jpg;base64,AAAA' } },
      ] }],
    }));
    assert.deepEqual(body.messages[0].content, [
      { text: 'What is this?' },
      { image: { format: 'png', source: { bytes: PNG_BASE64 } } },
      { image: { format: 'jpeg', source: { bytes: 'AAAA' } } },
    ]);
  });

  void it('refuses an http image URL with a 400 saying Bedrock needs inline images', () => {
    const err = rejection(() => toConverseRequest(request({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }],
    })));
    assert.equal(err.status, 400);
    assert.equal(classify(err), 'client');
    assert.deepEqual(err.body, {
      error: {
        message: 'messages[0].content[0].image_url: Bedrock needs images inline, as a base64 data: URL (data:image/png;base64,...); it does not fetch image URLs.',
        type: 'invalid_request_error',
        param: 'messages[0].content[0].image_url',
        code: 'unsupported_image_url',
      },
    });
  });

  void it('refuses what it cannot express: n > 1, bad tool arguments, a tool message without an id, other image types', () => {
    const n = rejection(() => toConverseRequest(request({ n: 2 })));
    assert.equal((n.body as { error: { code: string } }).error.code, 'unsupported_parameter');
    const args = rejection(() => toConverseRequest(request({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{not json' } }] }] })));
    assert.equal((args.body as { error: { code: string } }).error.code, 'invalid_tool_arguments');
    const tool = rejection(() => toConverseRequest(request({ messages: [{ role: 'tool', content: 'x' }] })));
    assert.equal((tool.body as { error: { param: string } }).error.param, 'messages[0].tool_call_id');
    const bmp = rejection(() => toConverseRequest(request({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,AAAA' } }] }] })));
    assert.equal((bmp.body as { error: { code: string } }).error.code, 'unsupported_image_format');
  });
});

const meta = { id: 'chatcmpl-req-1', model: 'anthropic.claude-3-haiku-20240307-v1:0', created: 1_700_000_000 };

void describe('toChatCompletion', () => {
  void it('joins text blocks, turns toolUse into tool_calls, and maps the stop reason and usage', () => {
    const response: ConverseResponse = {
      output: { message: { role: 'assistant', content: [
        { text: 'Let me check. ' },
        { text: 'One moment.' },
        { toolUse: { toolUseId: 'tooluse_abc', name: 'get_weather', input: { city: 'Paris', days: 2 } } },
      ] } },
      stopReason: 'tool_use',
      usage: { inputTokens: 12, outputTokens: 30, totalTokens: 42 },
      metrics: { latencyMs: 250 },
    };
    assert.deepEqual(toChatCompletion(response, meta), {
      id: 'chatcmpl-req-1',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'anthropic.claude-3-haiku-20240307-v1:0',
      choices: [{
        index: 0,
        message: {
          role: 'assistant',
          content: 'Let me check. One moment.',
          tool_calls: [{ id: 'tooluse_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","days":2}' } }],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      }],
      usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 },
    });
  });

  void it('gives null content when the answer is only tool use', () => {
    const response: ConverseResponse = { output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'f', input: {} } }] } }, stopReason: 'tool_use' };
    const message = toChatCompletion(response, meta).choices[0].message as { content: unknown };
    assert.equal(message.content, null);
  });

  void it('maps every stop reason', () => {
    assert.deepEqual(
      ['end_turn', 'stop_sequence', 'max_tokens', 'tool_use', 'guardrail_intervened', 'content_filtered', 'model_context_window_exceeded', 'something_new'].map(finishReason),
      ['stop', 'stop', 'length', 'tool_calls', 'content_filter', 'content_filter', 'length', 'stop'],
    );
  });

  void it('counts cached input in prompt_tokens and reports cache reads as cached_tokens', () => {
    assert.deepEqual(toUsage({ inputTokens: 10, outputTokens: 5, totalTokens: 1015, cacheReadInputTokens: 800, cacheWriteInputTokens: 200 }), {
      prompt_tokens: 1010,
      completion_tokens: 5,
      total_tokens: 1015,
      prompt_tokens_details: { cached_tokens: 800 },
    });
    assert.deepEqual(toUsage({ inputTokens: 3, outputTokens: 4 }), { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  });
});

void describe('ConverseStreamTranslator', () => {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): ChatChunk => ({
    id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });

  void it('turns text, two tool uses, the stop and the metadata into chunks, tool calls numbered from 0', () => {
    const t = new ConverseStreamTranslator(meta);
    const events: [string, unknown][] = [
      ['messageStart', { p: 'abc', role: 'assistant' }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Checking' }, p: 'ab' }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: ' both.' } }],
      ['contentBlockStop', { contentBlockIndex: 0 }],
      ['contentBlockStart', { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tooluse_a', name: 'get_weather' } } }],
      ['contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '{"city":' } } }],
      ['contentBlockDelta', { contentBlockIndex: 1, delta: { toolUse: { input: '"Paris"}' } } }],
      ['contentBlockStop', { contentBlockIndex: 1 }],
      ['contentBlockStart', { contentBlockIndex: 2, start: { toolUse: { toolUseId: 'tooluse_b', name: 'get_time' } } }],
      ['contentBlockDelta', { contentBlockIndex: 2, delta: { toolUse: { input: '{}' } } }],
      ['contentBlockStop', { contentBlockIndex: 2 }],
      ['messageStop', { stopReason: 'tool_use' }],
    ];
    const out: ChatChunk[] = [];
    for (const [type, payload] of events) {
      out.push(...t.event(type, payload));
      assert.equal(t.complete, false);
    }
    out.push(...t.event('metadata', { usage: { inputTokens: 7, outputTokens: 9, totalTokens: 16 }, metrics: { latencyMs: 300 } }));
    assert.equal(t.complete, true);
    assert.deepEqual(out, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Checking' }),
      chunk({ content: ' both.' }),
      chunk({ tool_calls: [{ index: 0, id: 'tooluse_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'tooluse_b', type: 'function', function: { name: 'get_time', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
      { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, choices: [], usage: { prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 } },
    ]);
  });

  void it('sends the role chunk first even when the first event is not messageStart, and ignores unknown events', () => {
    const t = new ConverseStreamTranslator(meta);
    assert.deepEqual(t.event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'x' } }), [chunk({ role: 'assistant', content: '' }), chunk({ content: 'x' })]);
    assert.deepEqual(t.event('contentBlockDelta', { contentBlockIndex: 1, delta: { reasoningContent: { text: 'thinking' } } }), []);
    assert.deepEqual(t.event('somethingNew', {}), []);
  });

  void it('is complete only once both messageStop and metadata have arrived', () => {
    const t = new ConverseStreamTranslator(meta);
    t.event('metadata', { usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 } });
    assert.equal(t.complete, false);
    t.event('messageStop', { stopReason: 'max_tokens' });
    assert.equal(t.complete, true);
  });
});

void describe('toFailure', () => {
  void it('reads the exception from x-amzn-errortype and gives the OpenAI error shape', () => {
    assert.deepEqual(toFailure('ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/', 400, { message: 'A conversation must start with a user message.' }), {
      status: 400,
      exception: 'ValidationException',
      body: { error: { message: 'A conversation must start with a user message.', type: 'invalid_request_error', param: null, code: 'ValidationException' } },
    });
  });

  void it('maps each exception to the status routing classifies, from the header and from stream names', () => {
    const cases: [string, number, number][] = [
      ['ThrottlingException', 429, 429],
      ['throttlingException', 200, 429],
      ['ModelNotReadyException', 429, 503],
      ['ServiceUnavailableException', 503, 503],
      ['serviceUnavailableException', 200, 503],
      ['modelStreamErrorException', 200, 500],
      ['internalServerException', 200, 500],
      ['validationException', 200, 400],
      ['AccessDeniedException', 403, 403],
      ['ResourceNotFoundException', 404, 404],
      ['ModelTimeoutException', 408, 408],
      ['ModelErrorException', 424, 502],
      ['SomethingNewException', 418, 418],
    ];
    for (const [type, httpStatus, status] of cases) assert.equal(toFailure(type, httpStatus, { message: 'm' }).status, status, type);
  });

  void it('marks a too-long input as context_length_exceeded, which routing classifies as context_length', () => {
    const failure = toFailure('ValidationException', 400, { message: 'Input is too long for requested model.' });
    assert.equal(failure.body.error.code, 'context_length_exceeded');
    assert.equal(classify(new UpstreamError('x', { status: failure.status, phase: 'response', body: failure.body })), 'context_length');
  });

  void it('says something useful when Bedrock gave no message', () => {
    assert.equal(toFailure(undefined, 502, '').body.error.message, 'Bedrock answered 502');
    assert.equal(toFailure('ThrottlingException', 429, {}).body.error.message, 'Bedrock answered ThrottlingException');
    assert.equal(toFailure(undefined, 502, '<html>Bad Gateway</html>').body.error.message, '<html>Bad Gateway</html>');
  });
});
