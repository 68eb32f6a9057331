// Async submission on the normal endpoint: `Prefer: respond-async` answers 202 with the request
// id once Kafka has the request; the answer is fetched later by id. `x-spillway-priority: batch`
// queues it on the batch topic.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { topicNames } from '#libs/bus/topics.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { readResultsTopic, type ResultsTopic } from '#test/support/results-topic.ts';

interface Accepted {
  id: string;
  object: string;
  status: string;
  model: string;
}

describe('async requests (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let results: ResultsTopic;

  before(async () => {
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
    });
    results = await readResultsTopic(servicesEnv().kafkaBrokers, gateway.prefix);
  });

  after(async () => {
    await results?.close();
    await gateway?.close(1_000);
    await upstream?.close();
  });

  const submit = (content: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<Response> =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async', ...headers },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }], ...extra }),
    });

  it('answers 202 with the request id and where to fetch it, then the result is retrievable by id', async () => {
    const res = await submit('first async', {}, { stream: true });
    assert.equal(res.status, 202);
    const accepted = (await res.json()) as Accepted;
    assert.match(accepted.id, /^req_/);
    assert.equal(accepted.object, 'spillway.request');
    assert.equal(accepted.status, 'queued');
    assert.equal(accepted.model, 'openai/gpt-4o-mini');
    assert.equal(res.headers.get('x-request-id'), accepted.id);
    assert.equal(res.headers.get('location'), `/v1/requests/${accepted.id}`);

    await results.waitFor([accepted.id], 15_000);
    const lookup = await fetch(`${gateway.url}${res.headers.get('location') ?? ''}`);
    assert.equal(lookup.status, 200);
    const view = (await lookup.json()) as { status: string; http_status: number; response: { object: string; choices: { message: { content: string } }[] } };
    assert.equal(view.status, 'completed');
    assert.equal(view.http_status, 200);
    assert.equal(view.response.object, 'chat.completion');
    assert.equal(view.response.choices[0]?.message.content, 'Echo: first async');
    const call = upstream.requests.find((r) => JSON.stringify(r.body).includes('first async'));
    assert.ok(call, 'the provider was called');
    assert.equal((call.body as { stream?: boolean }).stream, undefined, 'an async request is executed as a whole completion, not streamed');
  });

  it('accepts "respond-async" among other preferences', async () => {
    const res = await submit('with wait', { prefer: 'wait=5, respond-async' });
    assert.equal(res.status, 202);
  });

  it('gives the same request id for a retried submission with the same Idempotency-Key, and runs it once', async () => {
    const key = `async-${randomUUID()}`;
    const content = `idempotent ${key}`;
    const first = (await (await submit(content, { 'idempotency-key': key })).json()) as Accepted;
    const second = (await (await submit(content, { 'idempotency-key': key })).json()) as Accepted;
    assert.equal(second.id, first.id);
    await results.waitFor([first.id], 15_000);
    assert.equal(upstream.requests.filter((r) => JSON.stringify(r.body).includes(content)).length, 1);
  });

  it('queues a request with x-spillway-priority: batch on the batch topic', async () => {
    const kafka = new Kafka({ clientId: 'async-test', brokers: servicesEnv().kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    const consumer: Consumer = kafka.consumer({ groupId: `${gateway.prefix}.async-test-${randomUUID().slice(0, 6)}`, maxWaitTimeInMs: 100 });
    const seen = new Set<string>();
    const arrivals = new EventTarget();
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topicNames(gateway.prefix).batch], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.add(message.key?.toString() ?? '');
          arrivals.dispatchEvent(new Event('message'));
        },
      });
      const res = await submit('batch priority', { 'x-spillway-priority': 'batch' });
      assert.equal(res.status, 202);
      const { id } = (await res.json()) as Accepted;
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (seen.has(id)) resolve();
        };
        arrivals.addEventListener('message', check);
        check();
      });
      await results.waitFor([id], 15_000);
    } finally {
      await consumer.disconnect();
    }
  });

  it('rejects an unknown x-spillway-priority with a 400 naming the header', async () => {
    const res = await submit('bad priority', { 'x-spillway-priority': 'urgent' });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { param: string; message: string } };
    assert.equal(body.error.param, 'x-spillway-priority');
    assert.match(body.error.message, /'interactive' or 'batch'/);
  });
});
