// POST /v1/embeddings through the durable path, with the official openai SDK as the client: float
// and base64 (the SDK's default), base64 even from an upstream that only answers floats, and
// failover to another provider.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { fakeEmbedding, startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

/** The float32 rounding OpenAI's base64 encoding applies. */
const float32 = (values: number[]): number[] => Array.from(new Float32Array(values));

for (const mode of ['kafka', 'embedded'] as const) {
  describe(`embeddings (${mode})`, () => {
    let upstream: FakeOpenAI;
    let floatsOnly: FakeOpenAI;
    let gateway: TestGateway;
    let client: OpenAI;

    before(async () => {
      upstream = await startFakeOpenAI({ embeddingDimensions: 8 });
      floatsOnly = await startFakeOpenAI({ embeddingDimensions: 8, floatEmbeddingsOnly: true });
      gateway = await startTestGateway({
        mode,
        config: {
          providers: {
            openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['text-embedding-3-small'] },
            local: { type: 'openai-compatible', baseUrl: floatsOnly.url, keys: [{ key: 'sk-local' }], models: ['nomic-embed-text'] },
          },
        },
      });
      client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
    });

    after(async () => {
      await gateway?.close(1_000);
      await upstream?.close();
      await floatsOnly?.close();
    });

    it('answers the SDK (which asks for base64 and decodes it) with the upstream vectors', async () => {
      const res = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: ['hello world', 'second'] });
      assert.equal(res.object, 'list');
      assert.equal(res.data.length, 2);
      assert.deepEqual(res.data[0]?.embedding, float32(fakeEmbedding('hello world', 8)));
      assert.deepEqual(res.data[1]?.embedding, float32(fakeEmbedding('second', 8)));
      assert.equal(res.usage.prompt_tokens, 3);
      assert.equal(upstream.requests.at(-1)?.apiKey, 'sk-upstream');
    });

    it('answers float arrays when asked for float', async () => {
      const res = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'hello', encoding_format: 'float', dimensions: 4 });
      assert.deepEqual(res.data[0]?.embedding, fakeEmbedding('hello', 4));
    });

    it('encodes base64 itself when the upstream answers floats although base64 was asked', async () => {
      const raw = await fetch(`${gateway.url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'local/nomic-embed-text', input: 'hello', encoding_format: 'base64' }),
      });
      assert.equal(raw.status, 200);
      const body = (await raw.json()) as { data: { embedding: unknown }[] };
      const encoded = body.data[0]?.embedding;
      assert.equal(typeof encoded, 'string');
      const bytes = Buffer.from(String(encoded), 'base64');
      const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
      assert.deepEqual(decoded, float32(fakeEmbedding('hello', 8)));
      const sent = floatsOnly.requests.at(-1)?.body as { encoding_format?: string };
      assert.equal(sent.encoding_format, 'base64', 'the request went upstream as the client sent it');
    });

    it('falls back to the next provider when the first one fails', async () => {
      upstream.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 500 });
      const res = await client.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'failover', encoding_format: 'float', fallbacks: ['local/nomic-embed-text'] } as OpenAI.EmbeddingCreateParams);
      assert.deepEqual(res.data[0]?.embedding, fakeEmbedding('failover', 8));
      assert.equal(floatsOnly.requests.at(-1)?.apiKey, 'sk-local');
    });

    it('rejects a request without input with a 400 naming the field', async () => {
      const raw = await fetch(`${gateway.url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/text-embedding-3-small', input: [] }),
      });
      assert.equal(raw.status, 400);
      const body = (await raw.json()) as { error: { message: string; param: string | null } };
      assert.match(body.error.message, /input/);
    });

    it('answers 404 in OpenAI shape for a model no provider serves', async () => {
      await assert.rejects(client.embeddings.create({ model: 'nobody/embedder', input: 'x' }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.NotFoundError);
        assert.equal((err.error as { code?: string }).code, 'model_not_found');
        return true;
      });
    });
  });
}
