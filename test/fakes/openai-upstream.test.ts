// Pins the fake's wire format against the official openai SDK, so gateway tests that use the fake
// are testing against what OpenAI really sends.
// node:test's describe/it return promises the runner awaits itself; `void` tells the linter so.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { APIConnectionError, APIError, AuthenticationError, RateLimitError } from 'openai';
import { request } from 'undici';
import { fakeEmbedding, startFakeOpenAI } from './openai-upstream.ts';
import type { FakeOpenAI } from './openai-upstream.ts';
import { withStandalone } from './standalone-child.ts';

const user = (content: string): OpenAI.Chat.ChatCompletionMessageParam => ({ role: 'user', content });

void describe('fake OpenAI upstream', () => {
  let fake: FakeOpenAI;
  let client: OpenAI;

  before(async () => {
    fake = await startFakeOpenAI();
    client = new OpenAI({ baseURL: fake.url, apiKey: 'sk-test', maxRetries: 0 });
  });
  after(() => fake.close());

  void it('answers a plain chat completion with Echo of the last user message and OpenAI headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'be brief' }, user('hello there  world')] })
      .withResponse();
    assert.match(data.id, /^chatcmpl-/);
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.model, 'gpt-4o-mini');
    assert.equal(data.service_tier, 'default');
    assert.deepEqual(data.choices, [{
      index: 0,
      message: { role: 'assistant', content: 'Echo: hello there  world', refusal: null, annotations: [] },
      logprobs: null,
      finish_reason: 'stop',
    }]);
    assert.equal(data.usage?.prompt_tokens, 5);
    assert.equal(data.usage?.completion_tokens, 4);
    assert.equal(data.usage?.total_tokens, 9);
    assert.equal(data.usage?.completion_tokens_details?.reasoning_tokens, 0);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.match(response.headers.get('x-request-id') ?? '', /^req_/);
    assert.equal(response.headers.get('openai-version'), '2020-10-01');
    assert.ok(response.headers.get('x-ratelimit-reset-tokens'));
    assert.equal(fake.requests.at(-1)?.apiKey, 'sk-test');
  });

  void it('reads array-of-parts user content', async () => {
    const res = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'part one' }] }],
    });
    assert.equal(res.choices[0].message.content, 'Echo: part one');
  });

  void it('streams deltas that concatenate to the same text, with a final usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [user('  leading spaces and trailing ')],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    assert.equal(text, 'Echo:   leading spaces and trailing ');
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '', refusal: null });
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
    const last = chunks.at(-1);
    assert.deepEqual(last?.choices, []);
    assert.equal(last?.usage?.completion_tokens, 5);
    assert.equal(last?.usage?.prompt_tokens, 4);
    const finish = chunks.at(-2)?.choices[0];
    assert.deepEqual(finish?.delta, {});
    assert.equal(finish?.finish_reason, 'stop');
    for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
  });

  void it('returns tool calls from a reply override, plain and streamed', async () => {
    fake.reply = () => ({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' }] });
    try {
      const plain = await client.chat.completions.create({ model: 'gpt-4o', messages: [user('weather?')] });
      const choice = plain.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      const call = choice.message.tool_calls?.[0];
      assert.ok(call?.type === 'function');
      assert.match(call.id, /^call_/);
      assert.deepEqual(call.function, { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' });

      const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [user('weather?')], stream: true });
      let name = '';
      let args = '';
      let id = '';
      let finishReason: string | null = null;
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        for (const tc of choice.delta.tool_calls ?? []) {
          assert.equal(tc.index, 0);
          if (tc.id !== undefined) id = tc.id;
          name += tc.function?.name ?? '';
          args += tc.function?.arguments ?? '';
        }
        finishReason = choice.finish_reason ?? finishReason;
      }
      assert.match(id, /^call_/);
      assert.equal(name, 'get_weather');
      assert.equal(args, '{"city":"Paris","unit":"c"}');
      assert.equal(finishReason, 'tool_calls');
    } finally {
      fake.reply = undefined;
    }
  });

  void it('surfaces a rate-limit fault as RateLimitError carrying retry-after', async () => {
    fake.enqueue({ kind: 'rate-limit', retryAfterSeconds: 7, retryAfterMs: 7000, resetRequests: '6m0s' });
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [user('hi')] }).then(
      () => assert.fail('expected a 429'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RateLimitError);
    assert.equal(err.status, 429);
    assert.equal(err.code, 'rate_limit_exceeded');
    assert.equal(err.headers?.get('retry-after'), '7');
    assert.equal(err.headers?.get('retry-after-ms'), '7000');
    assert.equal(err.headers?.get('x-ratelimit-reset-requests'), '6m0s');
    assert.deepEqual(fake.requests.at(-1)?.fault, { kind: 'rate-limit', retryAfterSeconds: 7, retryAfterMs: 7000, resetRequests: '6m0s' });
  });

  void it('gives a status fault the OpenAI error body for that status', async () => {
    fake.enqueue({ kind: 'status', status: 503 });
    const err = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).then(
      () => assert.fail('expected a 503'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof APIError);
    assert.equal(err.status, 503);
    assert.equal(err.type, 'server_error');
  });

  void it('rejects keys outside validKeys with 401 invalid_api_key and records the key', async () => {
    const strict = await startFakeOpenAI({ validKeys: ['sk-good'] });
    try {
      const bad = new OpenAI({ baseURL: strict.url, apiKey: 'sk-bad-key-123', maxRetries: 0 });
      const err = await bad.models.list().then(() => assert.fail('expected a 401'), (e: unknown) => e);
      assert.ok(err instanceof AuthenticationError);
      assert.equal(err.code, 'invalid_api_key');
      assert.equal(strict.requests[0].apiKey, 'sk-bad-key-123');
      const good = new OpenAI({ baseURL: strict.url, apiKey: 'sk-good', maxRetries: 0 });
      const models = await good.models.list();
      assert.ok(models.data.some((m) => m.id === 'gpt-4o-mini'));
    } finally {
      await strict.close();
    }
  });

  void it('makes the SDK stream throw on a disconnect fault, after the first chunks', async () => {
    fake.enqueue({ kind: 'disconnect', afterChunks: 1 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [user('one two three')], stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    });
    assert.equal(text, 'Echo: ');
  });

  void it('makes the SDK stream throw an APIError on an in-band error', async () => {
    fake.enqueue({ kind: 'in-band-error', afterChunks: 2, message: 'boom' });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [user('one two three')], stream: true });
    await assert.rejects(async () => {
      for await (const _ of stream) { /* drain */ }
    }, (e: unknown) => e instanceof APIError && e.message.includes('boom'));
  });

  void it('fails the connection on a reset fault', async () => {
    fake.enqueue({ kind: 'reset' });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [user('hi')] }), APIConnectionError);
  });

  void it('keeps a stalled stream open until the client aborts', async () => {
    fake.enqueue({ kind: 'stall', afterChunks: 1 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', messages: [user('a b c')], stream: true },
      { signal: controller.signal },
    );
    // The SDK ends an aborted stream quietly; what matters is that nothing after chunk 2 arrived.
    const seen: string[] = [];
    for await (const chunk of stream) {
      seen.push(chunk.choices[0]?.delta.content ?? '');
      if (seen.length === 2) controller.abort();
    }
    assert.deepEqual(seen, ['', 'Echo: ']);
  });

  void it('returns deterministic embeddings as floats and as base64 float32', async () => {
    const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha beta', 'gamma'], encoding_format: 'float' });
    assert.equal(floats.object, 'list');
    assert.equal(floats.model, 'text-embedding-3-small');
    assert.equal(floats.data.length, 2);
    assert.equal(floats.data[1].index, 1);
    assert.equal(floats.data[0].embedding.length, 1536);
    assert.deepEqual(floats.data[0].embedding, fakeEmbedding('alpha beta', 1536));
    assert.deepEqual(floats.usage, { prompt_tokens: 3, total_tokens: 3 });

    const raw = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha beta', encoding_format: 'base64', dimensions: 8 });
    const encoded: unknown = raw.data[0].embedding;
    assert.equal(typeof encoded, 'string');
    const bytes = Buffer.from(String(encoded), 'base64');
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    assert.deepEqual(decoded, fakeEmbedding('alpha beta', 8));

    // The SDK asks for base64 by default and decodes it itself.
    const viaDefault = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha beta', dimensions: 8 });
    assert.deepEqual(viaDefault.data[0].embedding, fakeEmbedding('alpha beta', 8));
    assert.equal((fake.requests.at(-1)?.body as { encoding_format?: string }).encoding_format, 'base64');
  });

  void it('frames SSE bytes exactly', async () => {
    const res = await request(`${fake.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-raw', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [user('x y')], stream: true }),
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    const text = await res.body.text();
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    const events = text.split('\n\n');
    assert.equal(events.pop(), '');
    for (const e of events) assert.match(e, /^data: [^\n]+$/);
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
    assert.deepEqual(Object.keys(chunks[0]), ['id', 'object', 'created', 'model', 'service_tier', 'system_fingerprint', 'choices']);
    assert.equal(chunks.length, 1 + 3 + 1);
  });

  void it('lets tests await arrivals instead of polling', async () => {
    const before = fake.requests.length;
    const arrival = fake.nextRequest();
    const counted = fake.waitForRequests(before + 2);
    const a = client.models.list();
    const b = client.models.list();
    const first = await arrival;
    assert.equal(first.path, '/v1/models');
    await counted;
    await Promise.all([a, b]);
  });

  void it('applies the default fault when the queue is empty', async () => {
    fake.setDefault({ kind: 'status', status: 500 });
    try {
      fake.enqueue({ kind: 'ok' });
      await client.chat.completions.create({ model: 'gpt-4o', messages: [user('hi')] });
      await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [user('hi')] }), (e: unknown) => e instanceof APIError && e.status === 500);
    } finally {
      fake.setDefault(undefined);
    }
  });
});

void describe('fake OpenAI upstream, standalone', () => {
  void it('prints its URL, serves, and exits on SIGTERM', async () => {
    const code = await withStandalone(new URL('./openai-upstream.ts', import.meta.url), 'FAKE_OPENAI_URL', async (url) => {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const client = new OpenAI({ baseURL: url, apiKey: 'sk-test', maxRetries: 0 });
      const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [user('ping')] });
      assert.equal(res.choices[0].message.content, 'Echo: ping');
    });
    assert.equal(code, 0);
  });
});

void describe('fake OpenAI upstream, with latency and token interval', () => {
  void it('streams the same text through its timers, and close() ends a stalled stream', async () => {
    const slow = await startFakeOpenAI({ latencyMs: 5, tokenIntervalMs: 1 });
    const client = new OpenAI({ baseURL: slow.url, apiKey: 'sk-test', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [user('one two three')], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'Echo: one two three');

    slow.enqueue({ kind: 'stall', afterChunks: 2 });
    const stalled = await client.chat.completions.create({ model: 'gpt-4o', messages: [user('one two three')], stream: true });
    const drained = (async () => {
      for await (const _ of stalled) { /* drain until the socket dies */ }
    })();
    await slow.close();
    await assert.rejects(drained);
  });
});
