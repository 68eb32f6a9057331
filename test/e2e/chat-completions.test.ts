// The walking skeleton end to end: the official openai SDK → ingest → Kafka → worker → fake
// OpenAI upstream → Redis/Kafka → client, in both the Kafka+Redis mode and the embedded default.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { modes, startTestGateway, type TestGateway } from '#test/support/gateway.ts';

// The Kafka mode runs once more on the alternative Kafka client (kafka.client: platformatic).
const variants = [...modes.map((mode) => ({ mode, client: 'kafkajs' })), { mode: 'kafka' as const, client: 'platformatic' }];

for (const { mode, client } of variants) {
  describe(`chat completions through the gateway (${mode}${client === 'platformatic' ? ', @platformatic/kafka' : ''})`, () => {
    let upstream: FakeOpenAI;
    let gateway: TestGateway;
    let client: OpenAI;

    before(async () => {
      upstream = await startFakeOpenAI();
      gateway = await startTestGateway({
        mode,
        config: { kafka: { client }, providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ id: 'primary', key: 'sk-upstream-secret' }], models: ['gpt-4o-mini'] } } },
      });
      client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
    });

    after(async () => {
      await gateway?.close(1_000);
      await upstream?.close();
    });

    it('answers a non-streaming request with the upstream completion and says who answered', async () => {
      const { data, response } = await client.chat.completions
        .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }] })
        .withResponse();
      assert.equal(data.object, 'chat.completion');
      assert.equal(data.choices[0].message.content, 'Echo: Hello there');
      assert.equal(data.model, 'gpt-4o-mini');
      assert.ok(data.usage && data.usage.total_tokens > 0);
      assert.match(response.headers.get('x-request-id') ?? '', /^req_[0-9a-z]{26}$/);
      assert.equal(response.headers.get('x-spillway-provider'), 'openai');
      assert.equal(response.headers.get('x-spillway-model'), 'gpt-4o-mini');
      const seen = upstream.requests.at(-1);
      assert.equal(seen?.apiKey, 'sk-upstream-secret');
      assert.equal((seen?.body as { model: string }).model, 'gpt-4o-mini');
    });

    it('resolves a bare model name to the provider that serves it', async () => {
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'bare' }] });
      assert.equal(completion.choices[0].message.content, 'Echo: bare');
    });

    it('streams deltas that concatenate to the full answer, with usage when asked', async () => {
      const stream = await client.chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'Stream this reply please' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usageChunks = 0;
      let finish: string | null = null;
      for await (const chunk of stream) {
        if (chunk.usage) usageChunks++;
        const choice = chunk.choices[0];
        if (choice?.delta.content) text += choice.delta.content;
        if (choice?.finish_reason) finish = choice.finish_reason;
      }
      assert.equal(text, 'Echo: Stream this reply please');
      assert.equal(finish, 'stop');
      assert.equal(usageChunks, 1);
    });

    it('leaves usage out of a stream that did not ask for it', async () => {
      const stream = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'no usage' }], stream: true });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.ok(chunks.length > 2);
      assert.ok(chunks.every((c) => c.choices.length === 1 && !('usage' in c)), 'no usage field and no usage-only chunk');
      assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'Echo: no usage');
    });

    const streamRaw = async (content: string, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content }] }),
      });

    it('sse_framing_carried_id_lines_openai_never_sends (fixed): frames the stream byte for byte as OpenAI does, data: lines only', async () => {
      const res = await streamRaw('raw bytes');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      const raw = await res.text();
      const events = raw.split('\n\n');
      assert.equal(events.pop(), '', 'the body ends with a blank line');
      assert.ok(events.length > 2);
      for (const [i, event] of events.entries()) {
        const match = /^data: (.*)$/.exec(event);
        assert.ok(match, `event ${i} is one "data: …" line and nothing else: ${JSON.stringify(event)}`);
        if (i === events.length - 1) assert.equal(match[1], '[DONE]');
        else assert.equal(JSON.parse(match[1] ?? '').object, 'chat.completion.chunk');
      }
    });

    it('with x-spillway-stream-ids: true, gives every event its sequence number as id:, counting from 1', async () => {
      const res = await streamRaw('raw bytes with ids', { 'x-spillway-stream-ids': 'true' });
      assert.equal(res.status, 200);
      const events = (await res.text()).split('\n\n');
      assert.equal(events.pop(), '', 'the body ends with a blank line');
      for (const [i, event] of events.entries()) {
        const match = /^id: (\d+)\ndata: (.*)$/.exec(event);
        assert.ok(match, `event ${i} is "id: <n>" then "data: …": ${event}`);
        assert.equal(Number(match[1]), i + 1, 'the n-th event has id n');
        if (i === events.length - 1) assert.equal(match[2], '[DONE]');
        else assert.equal(JSON.parse(match[2] ?? '').object, 'chat.completion.chunk');
      }
      const bad = await streamRaw('bad header', { 'x-spillway-stream-ids': 'yes' });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { error: { param: string } }).error.param, 'x-spillway-stream-ids');
    });

    it('keeps the result retrievable by request id', async () => {
      const { response } = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'keep me' }] }).withResponse();
      const id = response.headers.get('x-request-id');
      const res = await fetch(`${gateway.url}/v1/requests/${id}`);
      assert.equal(res.status, 200);
      const view = (await res.json()) as { status: string; provider: string; response: { choices: { message: { content: string } }[] }; attempts: { keyId: string }[] };
      assert.equal(view.status, 'completed');
      assert.equal(view.provider, 'openai');
      assert.equal(view.response.choices[0].message.content, 'Echo: keep me');
      assert.equal(view.attempts[0].keyId, 'primary');
      assert.ok(!JSON.stringify(view).includes('sk-upstream-secret'), 'the provider key never appears in a result');
    });

    it('lists the configured models', async () => {
      const models = await client.models.list();
      assert.deepEqual(models.data.map((m) => m.id), ['openai/gpt-4o-mini']);
    });

    it('passes an upstream caller-fault error through in OpenAI shape', async () => {
      upstream.enqueue({ kind: 'status', status: 400, body: { error: { message: 'Invalid temperature', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } } });
      await assert.rejects(
        client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'bad' }] }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.BadRequestError);
          assert.equal(err.message, '400 Invalid temperature');
          assert.equal(err.param, 'temperature');
          return true;
        },
      );
    });

    it('ends a stream that fails after the first token with an explicit error, not [DONE]', async () => {
      upstream.enqueue({ kind: 'disconnect', afterChunks: 1 });
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'cut me off early' }] }),
      });
      const raw = await res.text();
      assert.ok(!raw.includes('[DONE]'));
      const last = raw.trim().split('\n\n').at(-1) ?? '';
      assert.equal(JSON.parse(last.slice(last.indexOf('data: ') + 6)).error.code, 'upstream_unreachable');
    });

    it('never writes the provider key to its logs', () => {
      assert.ok(gateway.logs.length > 0);
      assert.ok(!gateway.logs.some((line) => line.includes('sk-upstream-secret')));
    });
  });
}
