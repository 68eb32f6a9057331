// Google Gemini (API key) and Vertex AI (bearer token) behind the gateway, with the official
// openai SDK as the client: a whole answer, a stream, a tool-call round trip, and each error class
// (RESOURCE_EXHAUSTED falls back; INVALID_ARGUMENT comes back as the caller's fault; a safety
// block is a content filter).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeGemini, type FakeGemini } from '#test/fakes/gemini-upstream.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

const weather = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };

describe('Gemini and Vertex providers through the gateway (kafka)', () => {
  let google: FakeGemini;
  let openai: FakeOpenAI;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    google = await startFakeGemini({ validKeys: ['g-key'], validTokens: ['ya29.token'] });
    openai = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: {
          gemini: { type: 'gemini', baseUrl: google.url, keys: [{ key: 'g-key' }], models: ['gemini-*'] },
          vertex: { type: 'vertex', project: 'proj-1', location: 'europe-west4', baseUrl: google.url, accessToken: 'ya29.token', models: [] },
          openai: { type: 'openai', baseUrl: openai.url, keys: [{ key: 'sk-openai' }], models: ['gpt-4o-mini'] },
        },
      },
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await google?.close();
    await openai?.close();
  });

  it('answers a whole completion from generateContent with the key in x-goog-api-key', async () => {
    const completion = await client.chat.completions.create({ model: 'gemini-2.5-flash', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello gemini' }] });
    assert.equal(completion.choices[0]?.message.content, 'Echo: hello gemini');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    const request = google.requests.at(-1);
    assert.equal(request?.api, 'gemini');
    assert.equal(request?.apiKey, 'g-key');
    assert.deepEqual((request?.body as { systemInstruction?: unknown }).systemInstruction, { parts: [{ text: 'Be brief.' }] });
  });

  it('streams streamGenerateContent as chat.completion.chunk events', async () => {
    const stream = await client.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: [{ role: 'user', content: 'stream from gemini please' }], stream: true });
    let text = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, 'Echo: stream from gemini please');
    assert.equal(finish, 'stop');
  });

  it('round-trips a tool call: ids are generated for Gemini function calls and mapped back by name', async () => {
    google.reply = (body) => (body.contents.length === 1 ? { functionCalls: [{ name: 'get_weather', args: { city: 'Oslo' } }] } : { text: 'Cold in Oslo.' });
    try {
      const first = await client.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: [{ role: 'user', content: 'weather in Oslo?' }], tools: [weather] });
      const call = first.choices[0]?.message.tool_calls?.[0];
      assert.equal(first.choices[0]?.finish_reason, 'tool_calls');
      assert.ok(call && call.type === 'function');
      assert.match(call.id, /^call_/);
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Oslo' });
      const second = await client.chat.completions.create({
        model: 'gemini/gemini-2.5-flash',
        tools: [weather],
        messages: [
          { role: 'user', content: 'weather in Oslo?' },
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: '{"temp":-3}' },
        ],
      });
      assert.equal(second.choices[0]?.message.content, 'Cold in Oslo.');
      const sent = google.requests.at(-1)?.body as { contents: { role: string; parts: Record<string, unknown>[] }[] };
      assert.deepEqual(sent.contents.map((c) => c.role), ['user', 'model', 'user']);
      const response = sent.contents[2]?.parts[0]?.functionResponse as { name?: string } | undefined;
      assert.equal(response?.name, 'get_weather');
    } finally {
      google.reply = undefined;
    }
  });

  it('calls Vertex AI on the project and location path with the bearer token', async () => {
    const completion = await client.chat.completions.create({ model: 'vertex/gemini-2.5-pro', messages: [{ role: 'user', content: 'hello vertex' }] });
    assert.equal(completion.choices[0]?.message.content, 'Echo: hello vertex');
    const request = google.requests.at(-1);
    assert.equal(request?.api, 'vertex');
    assert.equal(request?.project, 'proj-1');
    assert.equal(request?.location, 'europe-west4');
    assert.equal(request?.bearer, 'ya29.token');
  });

  it('returns INVALID_ARGUMENT as the caller fault, with no fallback', async () => {
    google.enqueue({ kind: 'status', status: 400 });
    const before = openai.requests.length;
    await assert.rejects(
      client.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: [{ role: 'user', content: 'bad' }], fallbacks: ['openai/gpt-4o-mini'] } as OpenAI.ChatCompletionCreateParamsNonStreaming),
      (err: unknown) => err instanceof OpenAI.BadRequestError,
    );
    assert.equal(openai.requests.length, before);
  });

  it('reports a SAFETY stop as finish_reason content_filter', async () => {
    google.reply = () => ({ text: '', finishReason: 'SAFETY' });
    try {
      const completion = await client.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: [{ role: 'user', content: 'unsafe' }] });
      assert.equal(completion.choices[0]?.finish_reason, 'content_filter');
    } finally {
      google.reply = undefined;
    }
  });

  // Last: the key's cooldown after RESOURCE_EXHAUSTED keeps Gemini out of the next requests.
  it('falls back to OpenAI on RESOURCE_EXHAUSTED', async () => {
    google.setDefault({ kind: 'rate-limit', retryDelay: '1s' });
    try {
      const completion = await client.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: [{ role: 'user', content: 'exhausted' }], fallbacks: ['openai/gpt-4o-mini'] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      assert.equal(completion.choices[0]?.message.content, 'Echo: exhausted');
    } finally {
      google.setDefault(undefined);
    }
  });
});
