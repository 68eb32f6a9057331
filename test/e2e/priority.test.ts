// Batch work yields to interactive work on the same workers: with a deep backlog on the batch
// topic, interactive requests are answered while the backlog is still being worked off.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { envelopeVersion, type RequestEnvelope } from '#libs/contracts/envelope.ts';
import { newRequestId } from '#libs/contracts/request-id.ts';
import { topicNames } from '#libs/bus/topics.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';

const backlog = 200;

describe('interactive before batch (kafka)', () => {
  let slow: FakeOpenAI;
  let fast: FakeOpenAI;
  let gateway: TestGateway;
  let producer: Producer;

  before(async () => {
    slow = await startFakeOpenAI({ latencyMs: 500 });
    fast = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        worker: { batchConcurrency: 4 },
        providers: {
          slow: { type: 'openai-compatible', baseUrl: slow.url, keys: [{ key: 'sk-slow' }], models: ['m'] },
          fast: { type: 'openai-compatible', baseUrl: fast.url, keys: [{ key: 'sk-fast' }], models: ['m'] },
        },
      },
    });
    producer = new Kafka({ clientId: 'priority-test', brokers: servicesEnv().kafkaBrokers.split(','), logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
  });

  after(async () => {
    await producer?.disconnect();
    await gateway?.close(500);
    await slow?.close();
    await fast?.close();
  });

  it('answers interactive requests while a batch backlog waits', async () => {
    const now = Date.now();
    const envelopes: RequestEnvelope[] = Array.from({ length: backlog }, (_, i) => ({
      v: envelopeVersion,
      id: newRequestId(),
      tenant: 'default',
      operation: 'chat',
      body: { model: 'slow/m', messages: [{ role: 'user', content: `batch line ${i}` }] },
      route: { model: 'slow/m', fallbacks: [], noFallback: false },
      reply: { mode: 'async' },
      acceptedAt: now,
      deadline: now + 600_000,
      priority: 'batch',
    }));
    await producer.send({ topic: topicNames(gateway.prefix).batch, messages: envelopes.map((e) => ({ key: e.id, value: JSON.stringify(e) })) });
    await slow.waitForRequests(4);

    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'fast/m', messages: [{ role: 'user', content: `interactive ${i}` }] }),
        }),
      ),
    );
    const batchStarted = slow.requests.length;
    for (const res of answers) assert.equal(res.status, 200);
    assert.ok(batchStarted < backlog / 2, `the batch backlog is still there (${batchStarted} of ${backlog} started) when interactive answers arrive`);
    assert.ok(batchStarted <= 4 + 8, 'batch runs at its own small concurrency, not the interactive pool');
  });
});
