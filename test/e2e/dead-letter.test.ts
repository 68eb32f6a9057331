// A message on the request topic that is not a valid envelope goes to the dead-letter topic with
// its reason; the worker carries on with the next message. Kafka-native producers are the
// audience, so the test produces with a plain Kafka client.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { envelopeVersion, resultEnvelopeSchema, type RequestEnvelope, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { newRequestId } from '#libs/contracts/request-id.ts';
import { topicNames } from '#libs/bus/topics.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';

describe('dead letters (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let producer: Producer;
  let consumer: Consumer;
  const dlq: { value: string; headers: Record<string, string> }[] = [];
  const results = new Map<string, ResultEnvelope>();
  const arrivals = new EventTarget();

  before(async () => {
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      roles: ['worker'],
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
    });
    const kafka = new Kafka({ clientId: 'dlq-test', brokers: servicesEnv().kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    producer = kafka.producer();
    await producer.connect();
    consumer = kafka.consumer({ groupId: `${gateway.prefix}.dlq-test`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    const topics = topicNames(gateway.prefix);
    await consumer.subscribe({ topics: [topics.dlq, topics.results], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === topics.dlq) {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          dlq.push({ value: message.value?.toString() ?? '', headers });
        } else {
          const result = resultEnvelopeSchema.parse(JSON.parse(message.value?.toString() ?? ''));
          results.set(result.id, result);
        }
        arrivals.dispatchEvent(new Event('message'));
      },
    });
  });

  after(async () => {
    await consumer?.disconnect();
    await producer?.disconnect();
    await gateway?.close(1_000);
    await upstream?.close();
  });

  function until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      if (check()) return resolve();
      const listener = (): void => {
        if (!check()) return;
        arrivals.removeEventListener('message', listener);
        resolve();
      };
      arrivals.addEventListener('message', listener);
    });
  }

  it('sends invalid JSON and an invalid envelope to the DLQ with the reason, then executes the next valid request', async () => {
    const topics = topicNames(gateway.prefix);
    const envelope: RequestEnvelope = {
      v: envelopeVersion,
      id: newRequestId(),
      tenant: 'default',
      operation: 'chat',
      body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'after the bad ones' }] },
      route: { model: 'openai/gpt-4o-mini', fallbacks: [], noFallback: false },
      reply: { mode: 'async' },
      acceptedAt: Date.now(),
      deadline: Date.now() + 60_000,
      priority: 'interactive',
    };
    await producer.send({
      topic: topics.interactive,
      messages: [
        { key: 'bad-json', value: '{"v": 1, "id": ', headers: { origin: 'test' } },
        { key: 'bad-envelope', value: JSON.stringify({ v: 1, id: 'x', operation: 'chat' }) },
        { key: envelope.id, value: JSON.stringify(envelope) },
      ],
    });
    await until(() => dlq.length >= 2 && results.has(envelope.id));

    const badJson = dlq.find((m) => m.value === '{"v": 1, "id": ');
    assert.ok(badJson, 'the malformed message is in the DLQ untouched');
    assert.match(badJson.headers['spillway-dlq-reason'], /JSON/);
    assert.match(badJson.headers['spillway-dlq-source'], new RegExp(`^${topics.interactive.replace(/\./g, '\\.')}/\\d+/\\d+$`));
    assert.equal(badJson.headers.origin, 'test', 'original headers are kept');

    const badEnvelope = dlq.find((m) => m.value.includes('"id":"x"'));
    assert.ok(badEnvelope);
    assert.match(badEnvelope.headers['spillway-dlq-reason'], /body|route|reply|deadline/);

    const result = results.get(envelope.id);
    assert.equal(result?.status, 'succeeded');
    assert.equal((result?.response as { choices: { message: { content: string } }[] }).choices[0].message.content, 'Echo: after the bad ones');
    assert.equal(upstream.requests.length, 1, 'only the valid message reached the provider');
  });
});
