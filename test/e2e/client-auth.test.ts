// Client keys: with auth.keys configured, every API route wants one (Authorization: Bearer or
// x-api-key), answers 401 in the surface's own error shape without it, and never logs it;
// health, readiness and metrics stay open.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

const clientKey = 'sk-spillway-team-a-0123456789';

describe('client keys (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        auth: { keys: [{ id: 'team-a', key: clientKey }] },
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
  });

  const ask = (apiKey: string): Promise<OpenAI.ChatCompletion> =>
    new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 }).chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'who goes there' }] });

  it('answers a client with a valid key', async () => {
    const completion = await ask(clientKey);
    assert.equal(completion.choices[0]?.message.content, 'Echo: who goes there');
  });

  it('refuses a wrong or missing key with 401 invalid_api_key in OpenAI shape, before anything reaches a provider', async () => {
    const calls = upstream.requests.length;
    await assert.rejects(ask('sk-wrong'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal((err.error as { code?: string }).code, 'invalid_api_key');
      return true;
    });
    const bare = await fetch(`${gateway.url}/v1/models`);
    assert.equal(bare.status, 401);
    assert.equal(upstream.requests.length, calls);
  });

  it('takes the key as x-api-key on the Anthropic surface and answers a wrong one in Anthropic shape', async () => {
    const good = new Anthropic({ baseURL: `${gateway.url}/anthropic`, apiKey: clientKey, maxRetries: 0 });
    const message = await good.messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 32, messages: [{ role: 'user', content: 'anthropic door' }] });
    assert.deepEqual(message.content, [{ type: 'text', text: 'Echo: anthropic door' }]);
    const res = await fetch(`${gateway.url}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-wrong' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { type: string; error: { type: string } };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'authentication_error');
  });

  it('leaves health, readiness and metrics open', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await fetch(`${gateway.url}${path}`)).status, 200, path);
  });

  it('never writes a client key to the logs', () => {
    assert.ok(!gateway.logs.some((line) => line.includes(clientKey) || line.includes('sk-wrong')));
  });
});
