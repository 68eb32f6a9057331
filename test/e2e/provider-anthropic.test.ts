// Anthropic as a provider behind the gateway. With the official openai SDK: a whole answer, a
// stream, a tool-call round trip, and each error class. With the official @anthropic-ai/sdk on the
// Anthropic surface: served by Anthropic, and by OpenAI when Anthropic is overloaded.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startFakeAnthropic, type FakeAnthropic } from '#test/fakes/anthropic-upstream.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

const weather = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };

describe('Anthropic provider through the gateway (kafka)', () => {
  let anthropic: FakeAnthropic;
  let openai: FakeOpenAI;
  let gateway: TestGateway;
  let client: OpenAI;
  let anthropicClient: Anthropic;

  before(async () => {
    anthropic = await startFakeAnthropic({ validKeys: ['sk-ant-upstream'] });
    openai = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: {
          anthropic: { type: 'anthropic', baseUrl: anthropic.url, keys: [{ key: 'sk-ant-upstream' }], models: ['claude-*'] },
          openai: { type: 'openai', baseUrl: openai.url, keys: [{ key: 'sk-openai' }], models: ['gpt-4o-mini'] },
        },
        models: { claude: { targets: ['anthropic/claude-sonnet-4-5'], fallbacks: ['openai/gpt-4o-mini'] } },
      },
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
    anthropicClient = new Anthropic({ baseURL: `${gateway.url}/anthropic`, apiKey: 'sk-ant-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await anthropic?.close();
    await openai?.close();
  });

  it('answers a whole completion from the Messages API, system lifted and max_tokens defaulted', async () => {
    const completion = await client.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello anthropic' }] });
    assert.equal(completion.choices[0]?.message.content, 'Echo: hello anthropic');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    const request = anthropic.requests.at(-1);
    assert.equal(request?.apiKey, 'sk-ant-upstream');
    assert.equal(request?.headers['anthropic-version'], '2023-06-01');
    const sent = request?.body as { system?: unknown; max_tokens?: number };
    assert.equal(sent.system, 'Be brief.');
    assert.equal(sent.max_tokens, 4096);
  });

  it('streams the Messages event sequence as chat.completion.chunk events, usage included on request', async () => {
    const stream = await client.chat.completions.create({ model: 'anthropic/claude-sonnet-4-5', messages: [{ role: 'user', content: 'stream from claude please' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, 'Echo: stream from claude please');
    assert.equal(finish, 'stop');
    assert.ok((usage?.completion_tokens ?? 0) > 0);
  });

  it('round-trips a tool call: tool_use out, tool_result back in', async () => {
    anthropic.reply = (body) => (body.messages.length === 1 ? { toolCalls: [{ name: 'get_weather', input: { city: 'Bern' } }] } : { text: 'Mild in Bern.' });
    try {
      const first = await client.chat.completions.create({ model: 'anthropic/claude-sonnet-4-5', messages: [{ role: 'user', content: 'weather in Bern?' }], tools: [weather] });
      const call = first.choices[0]?.message.tool_calls?.[0];
      assert.equal(first.choices[0]?.finish_reason, 'tool_calls');
      assert.ok(call && call.type === 'function');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Bern' });
      const second = await client.chat.completions.create({
        model: 'anthropic/claude-sonnet-4-5',
        tools: [weather],
        messages: [
          { role: 'user', content: 'weather in Bern?' },
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: '{"temp":12}' },
        ],
      });
      assert.equal(second.choices[0]?.message.content, 'Mild in Bern.');
      const sent = anthropic.requests.at(-1)?.body as { messages: { role: string; content: { type: string; tool_use_id?: string }[] }[] };
      assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
      assert.equal(sent.messages[2]?.content[0]?.type, 'tool_result');
      assert.equal(sent.messages[2]?.content[0]?.tool_use_id, call.id);
    } finally {
      anthropic.reply = undefined;
    }
  });

  it('returns an invalid_request_error as the caller fault, with no fallback', async () => {
    anthropic.enqueue({ kind: 'status', status: 400 });
    const before = openai.requests.length;
    await assert.rejects(client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'bad' }] }), (err: unknown) => err instanceof OpenAI.BadRequestError);
    assert.equal(openai.requests.length, before);
  });

  it('serves the Anthropic SDK on the Anthropic surface from Anthropic itself', async () => {
    const message = await anthropicClient.messages.create({ model: 'claude', max_tokens: 128, messages: [{ role: 'user', content: 'via the surface' }] });
    assert.deepEqual(message.content, [{ type: 'text', text: 'Echo: via the surface' }]);
    assert.equal((anthropic.requests.at(-1)?.body as { max_tokens?: number }).max_tokens, 128);
  });

  // Last: the overload opens Anthropic's breaker for the requests after it.
  it('answers the Anthropic SDK from OpenAI while Anthropic is overloaded (529)', async () => {
    anthropic.setDefault({ kind: 'status', status: 529 });
    try {
      const message = await anthropicClient.messages.create({ model: 'claude', max_tokens: 128, messages: [{ role: 'user', content: 'anthropic is down' }] });
      assert.deepEqual(message.content, [{ type: 'text', text: 'Echo: anthropic is down' }]);
      assert.equal(message.type, 'message');
      assert.equal(openai.requests.at(-1)?.apiKey, 'sk-openai');
      const stream = anthropicClient.messages.stream({ model: 'claude', max_tokens: 128, messages: [{ role: 'user', content: 'streamed while down' }] });
      assert.deepEqual((await stream.finalMessage()).content, [{ type: 'text', text: 'Echo: streamed while down' }]);
    } finally {
      anthropic.setDefault(undefined);
    }
  });
});
