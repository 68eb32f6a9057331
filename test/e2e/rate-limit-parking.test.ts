// Rate-limit-aware scheduling: a batch request that meets 429s is parked on the delay topic until
// its provider's Retry-After, and runs again then — as often as its deadline allows — without
// holding a worker slot meanwhile. Interactive requests are never parked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { readResultsTopic, type ResultsTopic } from '#test/support/results-topic.ts';

describe('batch requests parked through rate limits (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let results: ResultsTopic;

  before(async () => {
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        // One batch slot: a parked request must not be holding it.
        worker: { batchConcurrency: 1, minParkMs: 200 },
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
      },
    });
    results = await readResultsTopic(servicesEnv().kafkaBrokers, gateway.prefix);
  });

  after(async () => {
    await results?.close();
    await gateway?.close(1_000);
    await upstream?.close();
  });

  const submit = async (content: string, headers: Record<string, string>): Promise<string> => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async', ...headers },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }),
    });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  };
  const parkedLines = (requestId: string): number => gateway.logs.filter((l) => l.includes(requestId) && l.includes('parked until its provider resets')).length;

  it('parks a rate-limited batch request until Retry-After, runs it again, and frees its slot meanwhile', async () => {
    upstream.reply = (body) => ({ text: `answer to ${String(body.messages.at(-1)?.content)}` });
    upstream.enqueue({ kind: 'rate-limit', retryAfterSeconds: 1 }, { kind: 'rate-limit', retryAfterSeconds: 1 });
    const limited = await submit('limited', { 'x-spillway-priority': 'batch' });
    await upstream.waitForRequests(1);
    const other = await submit('other', { 'x-spillway-priority': 'batch' });

    await results.waitFor([limited, other], 30_000);
    const order = [...results.byId.keys()];
    assert.ok(order.indexOf(other) < order.indexOf(limited), 'the other batch request ran while the limited one was parked');
    const result = results.byId.get(limited)?.[0];
    assert.equal(result?.status, 'succeeded');
    assert.equal(results.byId.get(limited)?.length, 1, 'one result: the parks published none');
    assert.equal(parkedLines(limited), 2);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(metrics, /spillway_batch_parked_total 2/);
    upstream.reply = undefined;
  });

  it('does not park an interactive request', async () => {
    upstream.enqueue({ kind: 'rate-limit', retryAfterSeconds: 1 });
    const id = await submit('interactive', {});
    await results.waitFor([id], 30_000);
    assert.equal(parkedLines(id), 0);
  });

  it('stops parking at the request deadline: it ends failed instead of waiting forever', async () => {
    upstream.setDefault({ kind: 'rate-limit', retryAfterSeconds: 1 });
    try {
      const id = await submit('never gets through', { 'x-spillway-priority': 'batch', 'x-spillway-timeout-ms': '2500' });
      await results.waitFor([id], 30_000);
      const result = results.byId.get(id)?.[0];
      assert.equal(result?.status, 'failed');
      assert.ok(parkedLines(id) >= 1);
    } finally {
      upstream.setDefault(undefined);
    }
  });
});
