// AWS Bedrock behind the gateway, with the official openai SDK as the client: a whole answer, a
// stream, a tool-call round trip, and each error class (throttling falls back to OpenAI; a
// validation error comes back as the caller's fault).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeBedrock, type FakeBedrock } from '#test/fakes/bedrock-upstream.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const model = 'bedrock/anthropic.claude-3-5-haiku-20241022-v1:0';
const weather = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };

describe('Bedrock provider through the gateway (kafka)', () => {
  let bedrock: FakeBedrock;
  let openai: FakeOpenAI;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    bedrock = await startFakeBedrock({ region: 'us-east-1', credentials: [credentials] });
    openai = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: {
          bedrock: { type: 'bedrock', region: 'us-east-1', baseUrl: bedrock.url, ...credentials, models: ['anthropic.*'] },
          openai: { type: 'openai', baseUrl: openai.url, keys: [{ key: 'sk-openai' }], models: ['gpt-4o-mini'] },
        },
      },
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await bedrock?.close();
    await openai?.close();
  });

  it('answers a whole completion from Converse, signed with SigV4', async () => {
    const completion = await client.chat.completions.create({ model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello bedrock' }] });
    assert.equal(completion.choices[0]?.message.content, 'Echo: hello bedrock');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    assert.ok((completion.usage?.prompt_tokens ?? 0) > 0);
    const auth = bedrock.requests.at(-1)?.auth;
    assert.ok(auth?.scheme === 'sigv4' && auth.verified, 'the signature matched the credentials');
  });

  it('streams ConverseStream as chat.completion.chunk events', async () => {
    bedrock.writeSizes = [5, 13, 2];
    try {
      const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'stream from bedrock please' }], stream: true });
      let text = '';
      let finish: string | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(text, 'Echo: stream from bedrock please');
      assert.equal(finish, 'stop');
    } finally {
      bedrock.writeSizes = undefined;
    }
  });

  it('round-trips a tool call: toolUse out, toolResult back in', async () => {
    bedrock.reply = (body) => (body.messages.length === 1 ? { toolUses: [{ name: 'get_weather', input: { city: 'Paris' }, toolUseId: 'tooluse_abc' }] } : { text: 'It is sunny in Paris.' });
    try {
      const first = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'weather in Paris?' }], tools: [weather] });
      const call = first.choices[0]?.message.tool_calls?.[0];
      assert.equal(first.choices[0]?.finish_reason, 'tool_calls');
      assert.ok(call && call.type === 'function');
      assert.equal(call.id, 'tooluse_abc');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
      const second = await client.chat.completions.create({
        model,
        tools: [weather],
        messages: [
          { role: 'user', content: 'weather in Paris?' },
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: '{"sky":"clear"}' },
        ],
      });
      assert.equal(second.choices[0]?.message.content, 'It is sunny in Paris.');
      const sent = bedrock.requests.at(-1)?.body as { messages: { role: string; content: Record<string, unknown>[] }[] };
      assert.deepEqual(sent.messages.map((m) => m.role), ['user', 'assistant', 'user']);
      assert.deepEqual(sent.messages[2]?.content[0], { toolResult: { toolUseId: 'tooluse_abc', content: [{ text: '{"sky":"clear"}' }] } });
    } finally {
      bedrock.reply = undefined;
    }
  });

  it('falls back to OpenAI when Bedrock throttles', async () => {
    bedrock.setDefault({ kind: 'rate-limit' });
    try {
      const completion = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'throttled' }], fallbacks: ['openai/gpt-4o-mini'] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      assert.equal(completion.choices[0]?.message.content, 'Echo: throttled');
    } finally {
      bedrock.setDefault(undefined);
    }
  });

  it('returns a ValidationException as the caller fault, with no fallback', async () => {
    bedrock.enqueue({ kind: 'status', status: 400, errorType: 'ValidationException', message: 'The model returned the following errors: temperature: range: 0..1' });
    const before = openai.requests.length;
    await assert.rejects(
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'bad' }], fallbacks: ['openai/gpt-4o-mini'] } as OpenAI.ChatCompletionCreateParamsNonStreaming),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.match(err.message, /temperature/);
        return true;
      },
    );
    assert.equal(openai.requests.length, before);
  });
});
