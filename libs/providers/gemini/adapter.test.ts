// The Gemini and Vertex adapters against the wire-exact fake: what reaches Google, what comes
// back in the canonical shape, and how each Google failure reaches routing (status, body, headers).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatChunk, ChatRequest } from '#libs/contracts/chat.ts';
import { classify } from '#libs/routing/classify.ts';
import { failureResponse } from '#libs/routing/failure-response.ts';
import { startFakeGemini, type FakeGemini } from '#test/fakes/gemini-upstream.ts';
import { UpstreamError, type CallOptions } from '../provider.ts';
import { GeminiAdapter, VertexAdapter } from './adapter.ts';
import { geminiProviderSchema, vertexProviderSchema } from './config.ts';

const secret = 'AIzaSy-test-key-0123456789';

function options(overrides: Partial<CallOptions> = {}): CallOptions {
  return {
    signal: AbortSignal.timeout(10_000),
    model: 'gemini-2.5-flash',
    key: { id: 'gemini:0', secret },
    timeouts: { connectMs: 2_000, firstByteMs: 5_000, idleMs: 5_000 },
    ...overrides,
  };
}

const ask = (text: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({ model: 'gemini-2.5-flash', messages: [{ role: 'user', content: text }], ...extra });

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const err = await promise.then(
    () => assert.fail('expected an UpstreamError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UpstreamError, String(err));
  return err;
}

const text = (chunks: ChatChunk[]): string => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

void describe('GeminiAdapter', () => {
  let fake: FakeGemini;
  let adapter: GeminiAdapter;

  before(async () => {
    fake = await startFakeGemini({ validKeys: [secret] });
    adapter = new GeminiAdapter('gemini', geminiProviderSchema.parse({ type: 'gemini', baseUrl: fake.url, models: ['gemini-*'], headers: { 'x-team': 'search' } }));
  });
  after(async () => {
    await adapter.close();
    await fake.close();
  });

  void it('serves its model patterns and lists only exact names', () => {
    assert.equal(adapter.type, 'gemini');
    assert.equal(adapter.serves('gemini-2.5-pro'), true);
    assert.equal(adapter.serves('gpt-4o'), false);
    assert.deepEqual(adapter.listModels(), []);
  });

  void it('completes a chat through generateContent with the key in x-goog-api-key', async () => {
    const result = await adapter.complete(ask('hello there', { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }], temperature: 0.1 }), options());
    const req = fake.requests.at(-1);
    assert.equal(req?.path, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.equal(req?.headers['x-goog-api-key'], secret);
    assert.equal(req?.headers.authorization, undefined);
    assert.equal(req?.headers['x-team'], 'search');
    assert.deepEqual(req?.body, {
      systemInstruction: { parts: [{ text: 'be brief' }] },
      contents: [{ role: 'user', parts: [{ text: 'hello there' }] }],
      generationConfig: { temperature: 0.1 },
    });
    assert.equal(result.keyId, 'gemini:0');
    const completion = result.value;
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.model, 'gemini-2.5-flash');
    assert.deepEqual(completion.choices, [{ index: 0, message: { role: 'assistant', content: 'Echo: hello there' }, logprobs: null, finish_reason: 'stop' }]);
    assert.deepEqual(completion.usage, { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } });
  });

  void it('streams text over alt=sse: role chunk, deltas, finish, then a usage chunk, with the stream ending at EOF', async () => {
    const call = await adapter.stream(ask('one two three'), options());
    const chunks = await collect(call.chunks);
    const req = fake.requests.at(-1);
    assert.equal(req?.path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent');
    assert.deepEqual(req?.query, { alt: 'sse' });
    assert.equal(call.keyId, 'gemini:0');
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(text(chunks), 'Echo: one two three');
    assert.equal(chunks.length, 1 + 4 + 1 + 1);
    assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.equal(chunks.at(-1)?.usage?.completion_tokens, 4);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  });

  void it('streams function calls as whole tool-call deltas with generated ids and counted indexes', async () => {
    fake.reply = () => ({ functionCalls: [{ name: 'get_weather', args: { city: 'Paris' } }, { name: 'get_time', args: { tz: 'CET' } }], thoughtSignature: 'c2lnLTE=' });
    try {
      const chunks = await collect((await adapter.stream(ask('weather and time?'), options())).chunks);
      const calls = chunks.flatMap((c) => (c.choices[0]?.delta.tool_calls ?? []) as { index: number; id: string; type: string; function: { name: string; arguments: string }; extra_content?: unknown }[]);
      assert.deepEqual(calls.map((c) => [c.index, c.type, c.function.name, c.function.arguments]), [
        [0, 'function', 'get_weather', '{"city":"Paris"}'],
        [1, 'function', 'get_time', '{"tz":"CET"}'],
      ]);
      for (const c of calls) assert.match(c.id, /^call_[0-9a-f]{24}$/);
      assert.notEqual(calls[0].id, calls[1].id);
      assert.deepEqual(calls[0].extra_content, { google: { thought_signature: 'c2lnLTE=' } });
      assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'tool_calls');

      const plain = await adapter.complete(ask('weather and time?'), options());
      assert.equal(plain.value.choices[0].finish_reason, 'tool_calls');
    } finally {
      fake.reply = undefined;
    }
  });

  void it('sends a tool round trip Google accepts: functionCall with its signature, functionResponse named by call id', async () => {
    await adapter.complete({
      model: 'gemini-2.5-flash',
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' }, extra_content: { google: { thought_signature: 'c2lnLTE=' } } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, additionalProperties: false } } }],
      tool_choice: 'auto',
    }, options());
    assert.deepEqual(fake.requests.at(-1)?.body, {
      contents: [
        { role: 'user', parts: [{ text: 'weather?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2lnLTE=' }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 21 } } }] },
      ],
      tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }] }],
      toolConfig: { functionCallingConfig: { mode: 'AUTO' } },
    });
  });

  void it('turns 429 RESOURCE_EXHAUSTED with RetryInfo into a retry-after header routing honours', async () => {
    fake.enqueue({ kind: 'rate-limit', retryDelay: '11.2s' });
    const err = await failure(adapter.complete(ask('hi'), options()));
    assert.equal(err.status, 429);
    assert.equal(err.headers['retry-after'], '12');
    assert.equal(err.keyId, 'gemini:0');
    assert.equal(classify(err), 'rate_limited');
    assert.equal(failureResponse('rate_limited', err).headers['retry-after'], '12');
    const body = err.body as { error: { type: string; code: string; message: string } };
    assert.equal(body.error.type, 'RESOURCE_EXHAUSTED');
    assert.equal(body.error.code, 'resource_exhausted');
    assert.match(body.error.message, /^You exceeded your current quota/);
  });

  void it('leaves retry-after unset when a 429 gives no RetryInfo', async () => {
    fake.enqueue({ kind: 'rate-limit' });
    const err = await failure(adapter.complete(ask('hi'), options()));
    assert.equal(err.status, 429);
    assert.equal(err.headers['retry-after'], undefined);
  });

  void it('reports 503 UNAVAILABLE as an overloaded provider', async () => {
    fake.enqueue({ kind: 'status', status: 503 });
    const err = await failure(adapter.stream(ask('hi'), options()));
    assert.equal(err.status, 503);
    assert.equal(err.phase, 'response');
    assert.equal(classify(err), 'overloaded');
    assert.deepEqual(err.body, { error: { message: 'The model is overloaded. Please try again later.', type: 'UNAVAILABLE', param: null, code: 'unavailable' } });
  });

  void it("passes 400 INVALID_ARGUMENT through to the client in OpenAI's error shape", async () => {
    fake.enqueue({ kind: 'status', status: 400, body: { error: { code: 400, message: '* GenerateContentRequest.generation_config.max_output_tokens: must be positive', status: 'INVALID_ARGUMENT' } } });
    const err = await failure(adapter.complete(ask('hi'), options()));
    assert.equal(err.status, 400);
    assert.equal(classify(err), 'client');
    const response = failureResponse('client', err);
    assert.equal(response.httpStatus, 400);
    assert.deepEqual(response.error, { message: '* GenerateContentRequest.generation_config.max_output_tokens: must be positive', type: 'INVALID_ARGUMENT', param: null, code: 'invalid_argument' });
  });

  void it('classifies an over-long prompt as context_length', async () => {
    fake.enqueue({ kind: 'status', status: 400, body: { error: { code: 400, message: 'The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).', status: 'INVALID_ARGUMENT' } } });
    assert.equal(classify(await failure(adapter.complete(ask('hi'), options()))), 'context_length');
  });

  void it('treats an invalid key (400 API_KEY_INVALID at Google) as an auth failure, without echoing the key', async () => {
    const err = await failure(adapter.complete(ask('hi'), options({ key: { id: 'gemini:1', secret: 'AIzaSy-wrong-key-000000' } })));
    assert.equal(fake.requests.at(-1)?.fault, undefined);
    assert.equal(err.status, 401);
    assert.equal(classify(err), 'auth');
    assert.equal(err.keyId, 'gemini:1');
    assert.equal(JSON.stringify(err.body).includes('wrong-key'), false);
    assert.equal(err.message.includes('wrong-key'), false);
  });

  void it('fails a stream cut mid-way as a network fault after the chunks that arrived', async () => {
    fake.enqueue({ kind: 'disconnect', afterChunks: 2 });
    const call = await adapter.stream(ask('one two three four'), options());
    const seen: ChatChunk[] = [];
    const err = await failure((async () => {
      for await (const chunk of call.chunks) seen.push(chunk);
    })());
    assert.equal(text(seen), 'Echo: one ');
    assert.equal(classify(err), 'network');
  });

  void it('fails a stream that ends cleanly without a finishReason as truncated', async () => {
    fake.enqueue({ kind: 'truncate', afterChunks: 3 });
    const call = await adapter.stream(ask('one two three four'), options());
    const err = await failure(collect(call.chunks));
    assert.equal(err.phase, 'stream');
    assert.match(err.message, /before a finishReason/);
    assert.equal(classify(err), 'network');
  });

  void it('raises an error event inside the stream with its status', async () => {
    fake.enqueue({ kind: 'in-band-error', afterChunks: 1, message: 'Internal error encountered.' });
    const err = await failure(collect((await adapter.stream(ask('one two three'), options())).chunks));
    assert.equal(err.status, 500);
    assert.equal(err.phase, 'stream');
    assert.deepEqual(err.body, { error: { message: 'Internal error encountered.', type: 'INTERNAL', param: null, code: 'internal' } });
  });

  void it('finishes with content_filter when Gemini stops for safety or blocks the prompt', async () => {
    fake.reply = () => ({ text: 'partial', finishReason: 'SAFETY' });
    try {
      const plain = await adapter.complete(ask('bad'), options());
      assert.deepEqual(plain.value.choices[0], { index: 0, message: { role: 'assistant', content: null }, logprobs: null, finish_reason: 'content_filter' });
      const chunks = await collect((await adapter.stream(ask('bad'), options())).chunks);
      assert.equal(text(chunks), 'partial');
      assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'content_filter');

      fake.reply = () => ({ blockReason: 'PROHIBITED_CONTENT' });
      const blocked = await adapter.complete(ask('worse'), options());
      assert.equal(blocked.value.choices[0].finish_reason, 'content_filter');
      const blockedStream = await collect((await adapter.stream(ask('worse'), options())).chunks);
      assert.deepEqual(blockedStream.map((c) => (c.choices.length === 0 ? 'usage' : c.choices[0].finish_reason)), [null, 'content_filter', 'usage']);
    } finally {
      fake.reply = undefined;
    }
  });

  void it('keeps a client-chosen model name inside its path segment', async () => {
    await adapter.complete(ask('hi'), options({ model: 'gemini-x?key=stolen' }));
    const req = fake.requests.at(-1);
    assert.equal(req?.model, 'gemini-x?key=stolen');
    assert.deepEqual(req?.query, {});
  });

  void it('maps an abort to cancelled', async () => {
    fake.enqueue({ kind: 'slow-first-byte', ms: 60_000 });
    const controller = new AbortController();
    const pending = adapter.complete(ask('hi'), options({ signal: controller.signal }));
    await fake.nextRequest();
    controller.abort(new Error('hedge lost'));
    assert.equal(classify(await failure(pending)), 'cancelled');
  });
});

void describe('VertexAdapter', () => {
  let fake: FakeGemini;

  before(async () => {
    fake = await startFakeGemini({ validTokens: ['ya29.static', 'ya29.minted'] });
  });
  after(() => fake.close());

  const config = (extra: Record<string, unknown> = {}): ReturnType<typeof vertexProviderSchema.parse> =>
    vertexProviderSchema.parse({ type: 'vertex', project: 'acme-prod', location: 'europe-west4', baseUrl: fake.url, models: ['gemini-2.5-flash'], ...extra });

  void it('calls the regional publisher path with the bearer token from its token source', async () => {
    let calls = 0;
    const adapter = new VertexAdapter('vertex', config(), {
      tokenSource: () => {
        calls++;
        return Promise.resolve('ya29.minted');
      },
    });
    try {
      assert.equal(adapter.type, 'vertex');
      assert.deepEqual(adapter.listModels(), ['gemini-2.5-flash']);
      const result = await adapter.complete(ask('hello vertex'), options({ key: undefined }));
      const req = fake.requests.at(-1);
      assert.equal(req?.path, '/v1/projects/acme-prod/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent');
      assert.equal(req?.headers.authorization, 'Bearer ya29.minted');
      assert.equal(req?.headers['x-goog-api-key'], undefined);
      assert.deepEqual(result.value.choices[0].message, { role: 'assistant', content: 'Echo: hello vertex' });
      assert.equal(result.keyId, undefined);

      const chunks = await collect((await adapter.stream(ask('streamed reply'), options({ key: undefined }))).chunks);
      assert.equal(fake.requests.at(-1)?.path, '/v1/projects/acme-prod/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent');
      assert.equal(text(chunks), 'Echo: streamed reply');
      assert.equal(chunks.at(-1)?.usage?.prompt_tokens, 2);
      assert.equal(calls, 2);
    } finally {
      await adapter.close();
    }
  });

  void it('uses a static accessToken from config', async () => {
    const adapter = new VertexAdapter('vertex', config({ accessToken: 'ya29.static' }));
    try {
      await adapter.complete(ask('hi'), options({ key: undefined }));
      assert.equal(fake.requests.at(-1)?.bearer, 'ya29.static');
    } finally {
      await adapter.close();
    }
  });

  void it('reports a rejected token as an auth failure without the token', async () => {
    const adapter = new VertexAdapter('vertex', config({ accessToken: 'ya29.expired-token' }));
    try {
      const err = await failure(adapter.complete(ask('hi'), options({ key: undefined })));
      assert.equal(err.status, 401);
      assert.equal(classify(err), 'auth');
      assert.equal((err.body as { error: { type: string } }).error.type, 'UNAUTHENTICATED');
      assert.equal(JSON.stringify(err.body).includes('ya29'), false);
    } finally {
      await adapter.close();
    }
  });

  void it('fails with an auth error, before calling Google, when no token can be obtained', async () => {
    const before = fake.requests.length;
    const adapter = new VertexAdapter('vertex', config(), { tokenSource: () => Promise.reject(new Error('Could not load the default credentials')) });
    try {
      const err = await failure(adapter.complete(ask('hi'), options({ key: undefined })));
      assert.equal(err.status, 401);
      assert.equal(err.phase, 'connect');
      assert.match(err.message, /could not obtain Google credentials: Could not load the default credentials/);
      assert.equal(fake.requests.length, before);
    } finally {
      await adapter.close();
    }
  });

  void it('reads a Vertex 429 as rate limited', async () => {
    fake.enqueue({ kind: 'rate-limit' });
    const adapter = new VertexAdapter('vertex', config({ accessToken: 'ya29.static' }));
    try {
      const err = await failure(adapter.stream(ask('hi'), options({ key: undefined })));
      assert.equal(classify(err), 'rate_limited');
      assert.match((err.body as { error: { message: string } }).error.message, /^Resource exhausted/);
    } finally {
      await adapter.close();
    }
  });
});
