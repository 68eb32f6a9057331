// The adapter against the wire-exact fake Anthropic: what goes out, what comes back, and every
// failure as the UpstreamError that routing classifies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import { classify } from '#libs/routing/classify.ts';
import { failureResponse } from '#libs/routing/failure-response.ts';
import { startFakeAnthropic, type FakeAnthropic } from '#test/fakes/anthropic-upstream.ts';
import { UpstreamError, type CallOptions } from '../provider.ts';
import { StreamAssembler } from '../stream-assembler.ts';
import { AnthropicAdapter } from './adapter.ts';
import { anthropicProviderSchema } from './config.ts';

const secret = 'sk-ant-api03-test-secret';

function options(overrides: Partial<CallOptions> = {}): CallOptions {
  return {
    signal: new AbortController().signal,
    model: 'claude-sonnet-4-5',
    key: { id: 'key-1', secret },
    timeouts: { connectMs: 2_000, firstByteMs: 5_000, idleMs: 5_000 },
    ...overrides,
  };
}

function chat(content: string, extra: Partial<ChatRequest> = {}): ChatRequest {
  return { model: 'anthropic/claude-sonnet-4-5', messages: [{ role: 'user', content }], ...extra };
}

interface Choice {
  message: { content: string | null; tool_calls?: { id?: string; type: string; function: { name: string; arguments: string } }[] };
  finish_reason: string | null;
}

/** The first choice as the chat shape has it; the canonical type leaves choices loose. */
function firstChoice(completion: ChatCompletion): Choice {
  return completion.choices[0] as unknown as Choice;
}

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const err = await promise.then(() => assert.fail('expected an UpstreamError'), (e: unknown) => e);
  assert.ok(err instanceof UpstreamError, String(err));
  return err;
}

describe('AnthropicAdapter against the fake Anthropic', () => {
  let fake: FakeAnthropic;
  let adapter: AnthropicAdapter;

  before(async () => {
    fake = await startFakeAnthropic({ validKeys: [secret] });
    adapter = new AnthropicAdapter('anthropic', anthropicProviderSchema.parse({ type: 'anthropic', baseUrl: `${fake.url}/`, models: ['claude-*', 'claude-opus-4-1'], maxTokens: 1024 }));
  });
  after(async () => {
    await adapter.close();
    await fake.close();
  });

  it('serves the configured model patterns and lists the exact names', () => {
    assert.equal(adapter.type, 'anthropic');
    assert.equal(adapter.serves('claude-haiku-4-5'), true);
    assert.equal(adapter.serves('gpt-4o'), false);
    assert.deepEqual(adapter.listModels(), ['claude-opus-4-1']);
  });

  it('completes: POST /v1/messages with x-api-key and anthropic-version, answered as a chat.completion', async () => {
    const arrival = fake.nextRequest();
    const { value, keyId } = await adapter.complete(chat('hello there', { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }], temperature: 0.3 }), options());
    const request = await arrival;
    assert.equal(request.path, '/v1/messages');
    assert.equal(request.headers['x-api-key'], secret);
    assert.equal(request.headers['anthropic-version'], '2023-06-01');
    assert.equal(request.headers['content-type'], 'application/json');
    assert.deepEqual(request.body, { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'hello there' }], system: 'be brief', temperature: 0.3 });

    assert.equal(keyId, 'key-1');
    assert.match(value.id, /^msg_01/);
    assert.equal(value.object, 'chat.completion');
    assert.equal(value.model, 'claude-sonnet-4-5');
    assert.deepEqual(value.choices, [{ index: 0, message: { role: 'assistant', content: 'Echo: hello there', refusal: null }, logprobs: null, finish_reason: 'stop' }]);
    assert.deepEqual(value.usage, { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7, prompt_tokens_details: { cached_tokens: 0 } });
  });

  it('maps a max_tokens cut to finish_reason length', async () => {
    const { value } = await adapter.complete(chat('a b c d', { max_tokens: 2 }), options());
    assert.deepEqual(value.choices[0], { index: 0, message: { role: 'assistant', content: 'Echo: a ', refusal: null }, logprobs: null, finish_reason: 'length' });
  });

  it('counts cache writes and reads into prompt tokens, plain and streamed', async () => {
    fake.reply = () => ({ cacheCreationInputTokens: 100, cacheReadInputTokens: 2_000 });
    try {
      const { value } = await adapter.complete(chat('hi'), options());
      const expected = { prompt_tokens: 2_101, completion_tokens: 2, total_tokens: 2_103, prompt_tokens_details: { cached_tokens: 2_000 } };
      assert.deepEqual(value.usage, expected);
      const { chunks } = await adapter.stream(chat('hi'), options());
      const last = (await collect(chunks)).at(-1);
      assert.deepEqual(last?.choices, []);
      assert.deepEqual(last?.usage, expected);
    } finally {
      fake.reply = undefined;
    }
  });

  it('streams text: a role chunk, the words, a finish chunk and a usage chunk', async () => {
    const arrival = fake.nextRequest();
    const { chunks, keyId } = await adapter.stream(chat('one two three'), options());
    assert.equal(keyId, 'key-1');
    const all = await collect(chunks);
    const request = await arrival;
    assert.equal((request.body as { stream?: boolean }).stream, true);
    assert.equal(request.headers.accept, 'text/event-stream');

    assert.equal(new Set(all.map((c) => c.id)).size, 1);
    assert.deepEqual(all[0].choices, [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
    assert.deepEqual(all.slice(1, -2).map((c) => c.choices[0].delta), [{ content: 'Echo: ' }, { content: 'one ' }, { content: 'two ' }, { content: 'three' }]);
    assert.deepEqual(all.at(-2)?.choices, [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
    assert.deepEqual(all.at(-1)?.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7, prompt_tokens_details: { cached_tokens: 0 } });
  });

  it('returns tool calls with JSON string arguments, plain', async () => {
    fake.reply = () => ({ toolCalls: [{ name: 'get_weather', input: { city: 'Paris', unit: 'c' } }] });
    try {
      const { value } = await adapter.complete(chat('weather?', { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] }), options());
      const choice = firstChoice(value);
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      const calls = choice.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      assert.match(calls[0].id ?? '', /^toolu_01/);
      assert.deepEqual(calls[0].function, { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' });
      assert.deepEqual((fake.requests.at(-1)?.body as { tools: unknown }).tools, [{ name: 'get_weather', input_schema: { type: 'object' } }]);
    } finally {
      fake.reply = undefined;
    }
  });

  it('streams tool calls numbered from 0 after thinking and text blocks, their arguments reassembled', async () => {
    const calls = [
      { name: 'get_weather', input: { city: 'Paris', unit: 'c', days: [1, 2, 3] } },
      { name: 'get_time', input: { zone: 'Europe/Rome' } },
    ];
    fake.reply = () => ({ thinking: 'two cities', text: 'Checking both.', toolCalls: calls });
    try {
      const { chunks } = await adapter.stream(chat('weather and time?'), options());
      const all = await collect(chunks);
      const indices = all.flatMap((c) => ((c.choices[0]?.delta as { tool_calls?: { index: number }[] } | undefined)?.tool_calls ?? []).map((t) => t.index));
      assert.deepEqual([...new Set(indices)], [0, 1]);
      const assembler = new StreamAssembler();
      for (const chunk of all) assembler.add(chunk);
      const choice = firstChoice(assembler.completion());
      const calls = choice.message.tool_calls ?? [];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, 'Checking both.');
      assert.deepEqual(calls.map((t) => t.function), [
        { name: 'get_weather', arguments: '{"city":"Paris","unit":"c","days":[1,2,3]}' },
        { name: 'get_time', arguments: '{"zone":"Europe/Rome"}' },
      ]);
      for (const t of calls) assert.match(t.id ?? '', /^toolu_01/);
    } finally {
      fake.reply = undefined;
    }
  });

  it('sends a tool-call conversation Anthropic accepts: tool_use answered by tool_result in the next turn', async () => {
    const { value } = await adapter.complete(
      {
        model: 'm',
        messages: [
          { role: 'user', content: 'weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'toolu_p', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'toolu_r', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'toolu_p', content: 'sunny' },
          { role: 'tool', tool_call_id: 'toolu_r', content: 'rain' },
        ],
      },
      options(),
    );
    assert.equal(firstChoice(value).message.content, 'Echo: sunny\nrain');
  });

  it('surfaces a 429 with its retry-after, classified rate_limited and passed on to the client', async () => {
    fake.enqueue({ kind: 'rate-limit', retryAfterSeconds: 7 });
    const err = await failure(adapter.complete(chat('hi'), options()));
    assert.equal(err.status, 429);
    assert.equal(err.phase, 'response');
    assert.equal(err.keyId, 'key-1');
    assert.equal(err.headers['retry-after'], '7');
    assert.equal(classify(err), 'rate_limited');
    assert.equal(failureResponse('rate_limited', err).headers['retry-after'], '7');
    assert.deepEqual(err.body, {
      error: {
        message: `This request would exceed the rate limit for your organization (3f2b8c1e-7d4a-4e29-9b6f-0c5a1d8e2f47) of 4000 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.`,
        type: 'rate_limit_error',
        param: null,
        code: 'rate_limit_error',
      },
    });
  });

  it('derives retry-after from the reset timestamp when a 429 carries none', async () => {
    fake.enqueue({ kind: 'rate-limit', resetAt: new Date(Date.now() + 30_000), limit: 'output-tokens' });
    const err = await failure(adapter.stream(chat('hi'), options()));
    assert.equal(err.status, 429);
    const seconds = Number(err.headers['retry-after']);
    assert.ok(seconds >= 28 && seconds <= 30, `retry-after ${err.headers['retry-after']}`);
  });

  it('surfaces a 529 as overloaded with the error type kept', async () => {
    fake.enqueue({ kind: 'status', status: 529 });
    const err = await failure(adapter.complete(chat('hi'), options()));
    assert.equal(err.status, 529);
    assert.equal(classify(err), 'overloaded');
    assert.deepEqual(err.body, { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: 'overloaded_error' } });
  });

  it("passes a 400 through in OpenAI's error shape, as the provider's own word", async () => {
    fake.enqueue({ kind: 'status', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'messages.0.content: Input should be a valid list' }, request_id: 'req_011Cx' } });
    const err = await failure(adapter.complete(chat('hi'), options()));
    assert.equal(err.status, 400);
    assert.equal(classify(err), 'client');
    assert.deepEqual(failureResponse('client', err), {
      httpStatus: 400,
      error: { message: 'messages.0.content: Input should be a valid list', type: 'invalid_request_error', param: null, code: 'invalid_request_error' },
      headers: {},
      passedThrough: true,
    });
  });

  it('lets the fake reject what the adapter must never send: a 400 from validation stays a client error', async () => {
    const err = await failure(adapter.complete({ model: 'm', messages: [{ role: 'user', content: '' }] }, options()));
    assert.equal(err.status, 400);
    assert.deepEqual(err.body, {
      error: { message: 'messages.0: all messages must have non-empty content except for the optional final assistant message', type: 'invalid_request_error', param: null, code: 'invalid_request_error' },
    });
  });

  it('turns an in-band error event mid-stream into an UpstreamError with its type status, after the chunks before it', async () => {
    fake.enqueue({ kind: 'in-band-error', afterEvents: 4 });
    const { chunks } = await adapter.stream(chat('one two three'), options());
    const seen: string[] = [];
    const err = await failure((async () => {
      for await (const chunk of chunks) seen.push(String(chunk.choices[0]?.delta.content ?? ''));
    })());
    // message_start, then content_block_start, ping, "Echo: ", "one ".
    assert.deepEqual(seen, ['', 'Echo: ', 'one ']);
    assert.equal(err.status, 529);
    assert.equal(err.phase, 'stream');
    assert.equal(classify(err), 'overloaded');
    assert.deepEqual(err.body, { error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: 'overloaded_error' } });
    assert.match(err.message, /mid-stream: Overloaded/);
  });

  it('gives an in-band rate_limit_error 429 and an api_error 500', async () => {
    fake.enqueue({ kind: 'in-band-error', afterEvents: 1, errorType: 'rate_limit_error', message: 'slow down' }, { kind: 'in-band-error', afterEvents: 1, errorType: 'api_error' });
    for (const expected of [429, 500]) {
      const { chunks } = await adapter.stream(chat('x'), options());
      const err = await failure(collect(chunks));
      assert.equal(err.status, expected);
      assert.equal(err.phase, 'stream');
    }
  });

  it('turns a disconnect mid-stream into a network UpstreamError', async () => {
    fake.enqueue({ kind: 'disconnect', afterEvents: 3 });
    const { chunks } = await adapter.stream(chat('one two three'), options());
    const err = await failure(collect(chunks));
    assert.equal(err.status, undefined);
    assert.equal(classify(err), 'network');
    assert.equal(err.keyId, 'key-1');
  });

  it('turns a reset before the first byte into a network UpstreamError', async () => {
    fake.enqueue({ kind: 'reset' });
    const err = await failure(adapter.complete(chat('hi'), options()));
    assert.equal(classify(err), 'network');
  });

  it('rejects an invalid key as 401 auth, without the key in the error', async () => {
    const wrong = 'sk-ant-api03-wrong-key';
    const err = await failure(adapter.complete(chat('hi'), options({ key: { id: 'key-2', secret: wrong } })));
    assert.equal(err.status, 401);
    assert.equal(err.keyId, 'key-2');
    assert.equal(classify(err), 'auth');
    assert.deepEqual(err.body, { error: { message: 'invalid x-api-key', type: 'authentication_error', param: null, code: 'authentication_error' } });
    assert.ok(!JSON.stringify({ message: err.message, body: err.body, headers: err.headers }).includes(wrong));
  });

  it('masks the key when the upstream echoes it in an error', async () => {
    fake.enqueue({ kind: 'status', status: 403, body: { type: 'error', error: { type: 'permission_error', message: `key ${secret} may not use this model` } } });
    const err = await failure(adapter.complete(chat('hi'), options()));
    assert.equal(err.status, 403);
    assert.ok(!JSON.stringify(err.body).includes(secret));
    assert.deepEqual(err.body, { error: { message: 'key [redacted] may not use this model', type: 'permission_error', param: null, code: 'permission_error' } });
  });

  it('ends a stalled stream when the call is aborted', async () => {
    // content_block_start, ping and "Echo: " arrive; then nothing.
    fake.enqueue({ kind: 'stall', afterEvents: 3 });
    const controller = new AbortController();
    const { chunks } = await adapter.stream(chat('one two three'), options({ signal: controller.signal }));
    const err = await failure((async () => {
      for await (const chunk of chunks) if (chunk.choices[0]?.delta.content === 'Echo: ') controller.abort();
    })());
    assert.equal(classify(err), 'cancelled');
  });
});

describe('AnthropicAdapter against a stream that ends early', () => {
  let server: Server;
  let adapter: AnthropicAdapter;

  before(async () => {
    // A clean end of body with no message_stop, which the fake's faults (a cut socket) do not produce.
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      res.end('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":1,"output_tokens":1}}}\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    adapter = new AnthropicAdapter('anthropic', anthropicProviderSchema.parse({ type: 'anthropic', baseUrl: `http://127.0.0.1:${port}` }));
  });
  after(async () => {
    await adapter.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reports the truncation as a network UpstreamError in the stream phase', async () => {
    const { chunks } = await adapter.stream(chat('hi'), options());
    const err = await failure(collect(chunks));
    assert.equal(err.phase, 'stream');
    assert.equal(err.code, 'UND_ERR_SOCKET');
    assert.match(err.message, /before message_stop/);
    assert.equal(classify(err), 'network');
  });
});
