// The Kafka-native interface as a producer in another language meets it: the shipped JSON Schema
// files match the zod contract, and raw envelopes produced with a plain Kafka client are answered
// on `<prefix>.results` by key, every message on both sides valid against those files. Invalid
// messages and the dead-letter topic are pinned by dead-letter.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { liveEventSchema, requestEnvelopeSchema, resultEnvelopeSchema } from '#libs/contracts/envelope.ts';
import { newRequestId } from '#libs/contracts/request-id.ts';
import { topicNames } from '#libs/bus/topics.ts';
import { storeKeys } from '#libs/store/store.ts';
import { fakeEmbedding, startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { schemaFiles, schemasDir, staleSchemaFiles, writeSchemaFiles } from '../../scripts/generate-schemas.ts';

describe('shipped JSON Schema files', () => {
  it('match what libs/contracts/envelope.ts generates (when this fails, run `npm run schemas` and commit schemas/)', async () => {
    assert.deepEqual(await staleSchemaFiles(), [], 'these files in schemas/ are stale');
  });

  it('names a shipped file that was edited or is missing as stale', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spillway-schemas-'));
    try {
      await writeSchemaFiles(dir);
      assert.deepEqual(await staleSchemaFiles(dir), []);
      const [edited, removed] = schemaFiles.map((f) => f.file);
      const text = await readFile(join(dir, edited), 'utf8');
      await writeFile(join(dir, edited), text.replace('"minLength": 1', '"minLength": 2'));
      await unlink(join(dir, removed));
      assert.deepEqual(await staleSchemaFiles(dir), [edited, removed]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A JSON Schema validator over one shipped file, as a producer in another language would use it. */
async function shippedValidator(file: string): Promise<{ required: string[]; check: (value: unknown, what: string) => void }> {
  const schema = JSON.parse(await readFile(join(schemasDir, file), 'utf8')) as { required?: string[]; oneOf?: { required: string[] }[] };
  const ajv = new Ajv2020({ allErrors: true });
  // The schemas use `format` (a webhook's url is a "uri"); ajv checks formats only with this plugin.
  ajvFormats.default(ajv);
  const validate = ajv.compile(schema);
  const required = schema.required ?? schema.oneOf?.[0]?.required ?? [];
  return {
    required,
    check(value, what) {
      assert.ok(validate(value), `${what} is not valid against schemas/${file}: ${JSON.stringify(validate.errors)}`);
    },
  };
}

interface Read {
  key: string;
  value: string;
  headers: Record<string, string>;
}

describe('Kafka-native producer and consumer (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let producer: Producer;
  let consumer: Consumer;
  let redis: Redis;
  let requestSchema: Awaited<ReturnType<typeof shippedValidator>>;
  let resultSchema: Awaited<ReturnType<typeof shippedValidator>>;
  let liveSchema: Awaited<ReturnType<typeof shippedValidator>>;
  /** Every message read from `<prefix>.results`, by key, in the order read. */
  const results = new Map<string, Read[]>();
  const arrivals = new EventTarget();

  before(async () => {
    [requestSchema, resultSchema, liveSchema] = await Promise.all(['request-envelope', 'result-envelope', 'live-event'].map((name) => shippedValidator(`${name}.schema.json`)));
    upstream = await startFakeOpenAI({ embeddingDimensions: 4 });
    gateway = await startTestGateway({
      mode: 'kafka',
      roles: ['worker', 'results'],
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini', 'text-embedding-3-small'] } } },
    });
    const { kafkaBrokers, redisUrl } = servicesEnv();
    redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const kafka = new Kafka({ clientId: 'kafka-native-test', brokers: kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    producer = kafka.producer();
    await producer.connect();
    consumer = kafka.consumer({ groupId: `${gateway.prefix}.kafka-native-test`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topicNames(gateway.prefix).results], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = message.key?.toString('utf8') ?? '';
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        const list = results.get(key) ?? [];
        list.push({ key, value: message.value?.toString('utf8') ?? '', headers });
        results.set(key, list);
        arrivals.dispatchEvent(new Event('result'));
      },
    });
  });

  after(async () => {
    await consumer?.disconnect();
    await producer?.disconnect();
    redis?.disconnect();
    await gateway?.close(1_000);
    await upstream?.close();
  });

  function resultsFor(id: string, count = 1, timeoutMs = 30_000): Promise<Read[]> {
    const ready = (): Read[] | undefined => {
      const list = results.get(id) ?? [];
      return list.length >= count ? list : undefined;
    };
    return new Promise((resolve, reject) => {
      const now = ready();
      if (now) return resolve(now);
      const onResult = (): void => {
        const list = ready();
        if (!list) return;
        clearTimeout(timer);
        arrivals.removeEventListener('result', onResult);
        resolve(list);
      };
      const timer = setTimeout(() => {
        arrivals.removeEventListener('result', onResult);
        reject(new Error(`${results.get(id)?.length ?? 0} of ${count} results for ${id} on the results topic after ${timeoutMs} ms`));
      }, timeoutMs);
      arrivals.addEventListener('result', onResult);
    });
  }

  /** Produces raw envelopes as a producer in another language would: to the priority's topic, keyed by id, with the documented headers. */
  async function produce(...envelopes: Record<string, unknown>[]): Promise<void> {
    const topics = topicNames(gateway.prefix);
    for (const envelope of envelopes) {
      requestSchema.check(envelope, `request ${String(envelope.id)}`);
      requestEnvelopeSchema.parse(envelope);
    }
    for (const envelope of envelopes) {
      await producer.send({
        topic: envelope.priority === 'batch' ? topics.batch : topics.interactive,
        messages: [{ key: String(envelope.id), value: JSON.stringify(envelope), headers: { 'spillway-request-id': String(envelope.id), 'spillway-deadline': String(envelope.deadline) } }],
      });
    }
  }

  /** The result message's key, header and body are what the contract says; returns the parsed result. */
  function checkResult(read: Read, id: string): ReturnType<typeof resultEnvelopeSchema.parse> {
    assert.equal(read.key, id, 'a result is keyed by its request id');
    assert.equal(read.headers['spillway-request-id'], id);
    const value: unknown = JSON.parse(read.value);
    resultSchema.check(value, `result ${id}`);
    const result = resultEnvelopeSchema.parse(value);
    assert.deepEqual(result, value, 'the result has no field the schema does not name');
    return result;
  }

  const chat = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const now = Date.now();
    return {
      v: 1,
      id: newRequestId(now),
      tenant: 'acme',
      operation: 'chat',
      body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }], temperature: 0.2 },
      route: { model: 'openai/gpt-4o-mini', fallbacks: [], noFallback: false },
      reply: { mode: 'async' },
      acceptedAt: now,
      deadline: now + 60_000,
      priority: 'interactive',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      ...extra,
    };
  };

  it('answers a chat, an embeddings and a minimal envelope on the results topic, each keyed by its request id', async () => {
    const now = Date.now();
    const full = chat('hello from another language');
    const embeddings = {
      v: 1,
      id: newRequestId(now),
      tenant: 'acme',
      operation: 'embeddings',
      body: { model: 'openai/text-embedding-3-small', input: ['first', 'second'], encoding_format: 'float' },
      route: { model: 'openai/text-embedding-3-small', fallbacks: [], noFallback: false },
      reply: { mode: 'async' },
      acceptedAt: now,
      deadline: now + 60_000,
      priority: 'batch',
    };
    const minimal = {
      v: 1,
      id: newRequestId(now),
      operation: 'chat',
      body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'defaults only' }] },
      route: { model: 'openai/gpt-4o-mini' },
      reply: { mode: 'async' },
      acceptedAt: now,
      deadline: now + 60_000,
    };
    assert.deepEqual([...requestSchema.required].sort(), Object.keys(minimal).sort(), 'the minimal envelope holds exactly the required fields');
    await produce(full, embeddings, minimal);

    const [fullRead, embeddingsRead, minimalRead] = await Promise.all([full, embeddings, minimal].map((e) => resultsFor(String(e.id))));
    const fullResult = checkResult(fullRead[0], String(full.id));
    assert.equal(fullResult.status, 'succeeded');
    assert.equal(fullResult.httpStatus, 200);
    assert.equal(fullResult.provider, 'openai');
    assert.equal((fullResult.response as { choices: { message: { content: string } }[] }).choices[0].message.content, 'Echo: hello from another language');
    assert.equal(fullResult.attempts.length, 1);

    const embeddingsResult = checkResult(embeddingsRead[0], String(embeddings.id));
    assert.equal(embeddingsResult.status, 'succeeded');
    const vectors = (embeddingsResult.response as { data: { embedding: number[] }[] }).data.map((d) => d.embedding);
    assert.deepEqual(vectors, [fakeEmbedding('first', 4), fakeEmbedding('second', 4)]);

    const minimalResult = checkResult(minimalRead[0], String(minimal.id));
    assert.equal(minimalResult.status, 'succeeded');
    assert.equal((minimalResult.response as { choices: { message: { content: string } }[] }).choices[0].message.content, 'Echo: defaults only');
  });

  it('answers an envelope whose deadline has passed with a failed deadline_exceeded result, without calling the provider', async () => {
    const calls = upstream.requests.length;
    const late = chat('nobody waits for this', { deadline: Date.now() - 1 });
    await produce(late);
    const [read] = await resultsFor(String(late.id));
    const result = checkResult(read, String(late.id));
    assert.equal(result.status, 'failed');
    assert.equal(result.httpStatus, 504);
    assert.equal(result.error?.code, 'deadline_exceeded');
    assert.deepEqual(result.attempts, []);
    assert.equal(upstream.requests.length, calls);
  });

  it('re-publishes the stored result when a producer sends the same request id again, without a second provider call', async () => {
    const once = chat('exactly once');
    await produce(once);
    const [first] = await resultsFor(String(once.id));
    const calls = upstream.requests.length;
    await produce(once);
    const reads = await resultsFor(String(once.id), 2);
    assert.equal(reads.length, 2);
    assert.deepEqual(checkResult(reads[1], String(once.id)), checkResult(first, String(once.id)), 'the same answer, not a second one');
    assert.equal(upstream.requests.length, calls, 'the provider was not called again');
  });

  it('writes live events of a streamed request that are valid against live-event.schema.json', async () => {
    const streamed = chat('one two three', { reply: { mode: 'stream' }, body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'one two three' }], stream: true } });
    await produce(streamed);
    const [read] = await resultsFor(String(streamed.id));
    const result = checkResult(read, String(streamed.id));
    const entries = await redis.xrange(storeKeys(gateway.prefix).events(String(streamed.id)), '-', '+');
    const events = entries.map(([, fields]) => JSON.parse(fields[1]) as unknown);
    assert.ok(events.length >= 2, `a streamed request has deltas and a done event, got ${events.length}`);
    for (const [i, event] of events.entries()) {
      liveSchema.check(event, `live event ${i}`);
      liveEventSchema.parse(event);
    }
    const last = liveEventSchema.parse(events.at(-1));
    assert.equal(last.type, 'done');
    assert.deepEqual(last.data, result, 'the done event carries the result the results topic holds');
  });
});
