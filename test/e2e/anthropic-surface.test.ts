// The Anthropic-compatible surface with the official @anthropic-ai/sdk as the client: a whole
// message, a stream, a tool round trip and errors in Anthropic's shape — all served here by an
// OpenAI upstream through the same durable engine.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

const weather = { name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } };

describe('Anthropic-compatible surface (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let client: Anthropic;

  before(async () => {
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
    });
    client = new Anthropic({ baseURL: `${gateway.url}/anthropic`, apiKey: 'sk-ant-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
  });

  it('answers messages.create with an Anthropic message; system lifted into the OpenAI request', async () => {
    const message = await client.messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 256, system: 'Be brief.', messages: [{ role: 'user', content: 'hello claude' }] });
    assert.equal(message.type, 'message');
    assert.equal(message.role, 'assistant');
    assert.equal(message.model, 'openai/gpt-4o-mini');
    assert.equal(message.stop_reason, 'end_turn');
    assert.deepEqual(message.content, [{ type: 'text', text: 'Echo: hello claude' }]);
    assert.ok(message.usage.input_tokens > 0);
    const sent = upstream.requests.at(-1)?.body as { messages: { role: string; content: unknown }[]; max_tokens?: number };
    assert.deepEqual(sent.messages[0], { role: 'system', content: 'Be brief.' });
    assert.equal(sent.max_tokens, 256);
  });

  it('serves the path the SDK uses when its base URL is the gateway root', async () => {
    const root = new Anthropic({ baseURL: gateway.url, apiKey: 'sk-ant-client', maxRetries: 0 });
    const message = await root.messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'root path' }] });
    assert.deepEqual(message.content, [{ type: 'text', text: 'Echo: root path' }]);
  });

  it('streams Anthropic events the SDK assembles into the final message', async () => {
    const stream = client.messages.stream({ model: 'openai/gpt-4o-mini', max_tokens: 256, messages: [{ role: 'user', content: 'stream it to me' }] });
    const types: string[] = [];
    let text = '';
    stream.on('streamEvent', (event) => types.push(event.type));
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    assert.equal(text, 'Echo: stream it to me');
    assert.deepEqual(final.content, [{ type: 'text', text: 'Echo: stream it to me' }]);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(types.includes('content_block_delta') && types.includes('message_delta'));
  });

  it('round-trips a tool: tool_use out, tool_result back in as an OpenAI tool message', async () => {
    upstream.reply = (body) => (body.messages.some((m) => m.role === 'tool') ? { text: 'Sunny in Rome.' } : { toolCalls: [{ name: 'get_weather', arguments: '{"city":"Rome"}' }] });
    try {
      const first = await client.messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 256, tools: [weather], messages: [{ role: 'user', content: 'weather in Rome?' }] });
      assert.equal(first.stop_reason, 'tool_use');
      const use = first.content.find((b) => b.type === 'tool_use');
      assert.ok(use && use.type === 'tool_use');
      assert.equal(use.name, 'get_weather');
      assert.deepEqual(use.input, { city: 'Rome' });
      const second = await client.messages.create({
        model: 'openai/gpt-4o-mini',
        max_tokens: 256,
        tools: [weather],
        messages: [
          { role: 'user', content: 'weather in Rome?' },
          { role: 'assistant', content: first.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '{"sky":"clear"}' }] },
        ],
      });
      assert.deepEqual(second.content, [{ type: 'text', text: 'Sunny in Rome.' }]);
      const sent = upstream.requests.at(-1)?.body as { messages: { role: string; tool_call_id?: string; content?: unknown }[] };
      const tool = sent.messages.find((m) => m.role === 'tool');
      assert.equal(tool?.tool_call_id, use.id);
      assert.equal(tool?.content, '{"sky":"clear"}');
    } finally {
      upstream.reply = undefined;
    }
  });

  it('streams a tool call as a tool_use block with input_json_delta', async () => {
    upstream.reply = () => ({ toolCalls: [{ name: 'get_weather', arguments: '{"city":"Lisbon"}' }] });
    try {
      const final = await client.messages.stream({ model: 'openai/gpt-4o-mini', max_tokens: 256, tools: [weather], messages: [{ role: 'user', content: 'weather in Lisbon?' }] }).finalMessage();
      const use = final.content.find((b) => b.type === 'tool_use');
      assert.ok(use && use.type === 'tool_use');
      assert.deepEqual(use.input, { city: 'Lisbon' });
      assert.equal(final.stop_reason, 'tool_use');
    } finally {
      upstream.reply = undefined;
    }
  });

  it('rejects a request without max_tokens with an Anthropic invalid_request_error', async () => {
    const res = await fetch(`${gateway.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-client', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /max_tokens/);
  });

  it('answers malformed JSON in Anthropic shape too', async () => {
    const res = await fetch(`${gateway.url}/anthropic/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { type: string; error: { type: string } };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
  });

  it('answers an unknown model as not_found_error, which the SDK raises as NotFoundError', async () => {
    await assert.rejects(client.messages.create({ model: 'nobody/claude-x', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.NotFoundError);
      assert.equal((err.error as { error?: { type?: string } }).error?.type, 'not_found_error');
      return true;
    });
  });

  it('answers a provider failure as an Anthropic error of the mapped type', async () => {
    upstream.enqueue({ kind: 'status', status: 400, body: { error: { message: 'Invalid value for temperature', type: 'invalid_request_error', param: 'temperature', code: null } } });
    await assert.rejects(client.messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.BadRequestError);
      assert.match(err.message, /temperature/);
      return true;
    });
  });
});
