// With Kafka away, ingest answers 503 with Retry-After within its produce timeout instead of
// hanging, and accepts requests again once the broker is back.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { startLocalServices, type LocalServices } from '#test/support/local-services.ts';
import { printLogsOnFailure } from '#test/support/log-lines.ts';

const produceTimeoutMs = 2_000;
/**
 * How long the broker-down request may take before it counts as a hang: the produce timeout
 * ingest waits out, plus a margin for recording the refusal in Redis and a loaded machine.
 */
const answerBoundMs = produceTimeoutMs + 10_000;

describe('Kafka unavailable', () => {
  let services: LocalServices;
  let upstream: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    services = await startLocalServices({ only: 'kafka' });
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      kafkaBrokers: services.kafkaBrokers,
      redisUrl: servicesEnv().redisUrl,
      config: {
        kafka: { produceTimeoutMs },
        auth: { keys: [{ id: 'plain', key: 'sk-plain' }, { id: 'limited', key: 'sk-limited', limits: { rpm: 1 } }] },
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
      },
    });
  });

  afterEach(printLogsOnFailure(() => gateway?.logs));

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
    await services?.clean();
  });

  // A short deadline, so a request accepted while the worker's consumer is still rejoining the
  // group ends in a 504 the client can retry instead of waiting out the 5-minute default.
  const ask = (signal?: AbortSignal, key = 'sk-plain'): Promise<Response> =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/json', 'x-spillway-timeout-ms': '15000', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'are you there' }] }),
    });

  it('answers while the broker is up', async () => {
    const res = await ask();
    assert.equal(res.status, 200);
  });

  it('answers 503 with Retry-After, in OpenAI shape, while the broker is down', async () => {
    await services.stop('kafka');
    const res = await ask(AbortSignal.timeout(answerBoundMs)).catch((err: unknown) => {
      if (err instanceof Error && err.name === 'TimeoutError') {
        throw new Error(`ingest hung: no answer within ${answerBoundMs} ms (kafka.produceTimeoutMs ${produceTimeoutMs} plus a margin) with the broker down`, { cause: err });
      }
      throw err;
    });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    const body = (await res.json()) as { error: { code: string; type: string; message: string } };
    assert.equal(body.error.code, 'bus_unavailable');
    assert.equal(body.error.type, 'service_unavailable');
    assert.equal(upstream.requests.length, 1, 'nothing reached the provider');
    const ready = await fetch(`${gateway.url}/readyz`);
    assert.equal(ready.status, 503);
  });

  it('admission_kept_for_refused_request (fixed): a request Kafka refused does not count against its key\'s rate limit', async () => {
    // rpm 1: had the first refusal counted, the retry would be a 429 rather than another 503.
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await ask(AbortSignal.timeout(answerBoundMs), 'sk-limited');
      assert.equal(res.status, 503, `attempt ${attempt}`);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'bus_unavailable');
    }
  });

  it('accepts requests again once the broker is back', async () => {
    await services.start('kafka');
    // The client retries as Retry-After tells it to; the first tries may still meet a reconnecting producer.
    let res = await ask();
    for (let attempt = 0; (res.status === 503 || res.status === 504) && attempt < 10; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Number(res.headers.get('retry-after') ?? 1) * 1000));
      res = await ask();
    }
    assert.equal(res.status, 200);
  });
});
