// Azure OpenAI (deployments, api-version, the `api-key` header, the prompt-filter chunk that opens
// its streams) and a family provider (`type: groq`, no baseUrl of its own in a real config),
// through the gateway with the official openai SDK.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { fakeEmbedding, startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

const apiVersion = '2024-10-21';

describe('Azure OpenAI and the OpenAI-compatible family (kafka)', () => {
  let azure: FakeOpenAI;
  let groq: FakeOpenAI;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    azure = await startFakeOpenAI({ azure: { apiVersion }, validKeys: ['az-key'], embeddingDimensions: 4 });
    groq = await startFakeOpenAI({ validKeys: ['gsk-key'] });
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: {
          azure: { type: 'azure', endpoint: azure.url, apiVersion, deployments: { 'gpt-4o': 'prod-gpt4o' }, keys: [{ key: 'az-key' }], models: ['gpt-4o', 'text-embedding-3-small'] },
          groq: { type: 'groq', baseUrl: groq.url, keys: [{ key: 'gsk-key' }] },
        },
      },
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await azure?.close();
    await groq?.close();
  });

  it('calls the mapped deployment with the api-version and the key in api-key', async () => {
    const completion = await client.chat.completions.create({ model: 'azure/gpt-4o', messages: [{ role: 'user', content: 'hello azure' }] });
    assert.equal(completion.choices[0]?.message.content, 'Echo: hello azure');
    const request = azure.requests.at(-1);
    assert.equal(request?.deployment, 'prod-gpt4o');
    assert.equal(request?.apiKey, 'az-key');
    assert.equal(request?.headers.authorization, undefined, 'no bearer header goes to Azure');
  });

  it('streams without the prompt-filter chunk that opens Azure streams', async () => {
    const stream = await client.chat.completions.create({ model: 'azure/gpt-4o', messages: [{ role: 'user', content: 'stream from azure' }], stream: true });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length > 2);
    assert.ok(chunks.every((c) => c.choices.length > 0 && c.object === 'chat.completion.chunk'), 'every chunk the client sees has a choice');
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Echo: stream from azure');
  });

  it('uses the model name as the deployment when none is mapped, for embeddings too', async () => {
    const res = await client.embeddings.create({ model: 'azure/text-embedding-3-small', input: 'vector', encoding_format: 'float' });
    assert.deepEqual(res.data[0]?.embedding, fakeEmbedding('vector', 4));
    assert.equal(azure.requests.at(-1)?.deployment, 'text-embedding-3-small');
  });

  it('resolves a bare model name by the family preset patterns (groq serves llama-*)', async () => {
    const completion = await client.chat.completions.create({ model: 'llama-3.3-70b-versatile', messages: [{ role: 'user', content: 'hello groq' }] });
    assert.equal(completion.choices[0]?.message.content, 'Echo: hello groq');
    assert.equal(groq.requests.at(-1)?.apiKey, 'gsk-key');
    assert.equal((groq.requests.at(-1)?.body as { model?: string }).model, 'llama-3.3-70b-versatile');
  });
});
