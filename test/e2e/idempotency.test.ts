// Idempotency-Key: a client that retries with the same key gets the same request and its one
// answer, whether the first is finished or still running, and the provider is called once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { modes, startTestGateway, type TestGateway } from '#test/support/gateway.ts';

for (const mode of modes) {
  describe(`Idempotency-Key (${mode})`, () => {
    let upstream: FakeOpenAI;
    let gateway: TestGateway;

    before(async () => {
      upstream = await startFakeOpenAI();
      gateway = await startTestGateway({
        mode,
        config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
      });
    });

    after(async () => {
      await gateway?.close(1_000);
      await upstream?.close();
    });

    const chat = (key: string, content: string, extra: Record<string, unknown> = {}): Promise<Response> =>
      fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }], ...extra }),
      });

    it('answers a retry after completion with the same request id and answer, without a second call', async () => {
      const before = upstream.requests.length;
      const first = await chat('key-done', 'once only');
      const firstBody = (await first.json()) as { id: string; choices: { message: { content: string } }[] };
      const second = await chat('key-done', 'once only');
      const secondBody = (await second.json()) as typeof firstBody;
      assert.equal(second.status, 200);
      assert.equal(second.headers.get('x-request-id'), first.headers.get('x-request-id'));
      assert.deepEqual(secondBody, firstBody);
      assert.equal(upstream.requests.length - before, 1);
    });

    it('attaches a retry that arrives while the first is still running', async () => {
      const before = upstream.requests.length;
      upstream.enqueue({ kind: 'slow-first-byte', ms: 300 });
      const arrived = upstream.nextRequest();
      const first = chat('key-running', 'still going');
      await arrived;
      const second = await chat('key-running', 'still going');
      const [a, b] = [await first, second];
      assert.equal(b.headers.get('x-request-id'), a.headers.get('x-request-id'));
      assert.deepEqual(await b.json(), await a.json());
      assert.equal(upstream.requests.length - before, 1);
    });

    it('replays a finished stream to a retry with the same key', async () => {
      const first = await chat('key-stream', 'stream it twice', { stream: true });
      const firstText = await first.text();
      const second = await chat('key-stream', 'stream it twice', { stream: true });
      assert.equal(second.headers.get('x-request-id'), first.headers.get('x-request-id'));
      const secondText = await second.text();
      assert.equal(secondText, firstText);
      assert.ok(secondText.endsWith('data: [DONE]\n\n'));
    });

    it('refuses the same key with a different body (422)', async () => {
      await (await chat('key-body', 'the first body')).text();
      const res = await chat('key-body', 'another body');
      assert.equal(res.status, 422);
      const body = (await res.json()) as { error: { code: string; param: string } };
      assert.equal(body.error.code, 'idempotency_key_reused');
      assert.equal(body.error.param, 'idempotency-key');
    });

    it('keeps keys of different values apart', async () => {
      const a = await chat('key-a', 'same text');
      const b = await chat('key-b', 'same text');
      assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
    });
  });
}
