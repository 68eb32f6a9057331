// Redis restart (kill -9, then start; Redis keeps no data across it) while requests are in flight:
// workers keep going, every accepted request completes and reaches the durable record, a request
// arriving while Redis is away either completes too or gets a clean 503, and live delivery resumes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { startLocalServices, type LocalServices } from '#test/support/local-services.ts';
import { fakeOpenAIProvider, fastRecoveryConfig } from '#test/support/config-file.ts';
import { readResultsTopic, answerOf, type ResultsTopic } from '#test/support/results-topic.ts';
import { openStream, sendChat, syncAnswerOf, type SyncAnswer } from '#test/support/chat-client.ts';
import { within } from '#test/support/within.ts';
import { cleanUpInOrder } from '#test/support/cleanup.ts';

const inFlight = 10;
const latencyMs = 1_500;
/** A stream that runs across the restart: 40 distinct words, one every 50 ms. */
const streamText = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
const timeout = { headers: { 'x-spillway-timeout-ms': '30000' }, clientTimeoutMs: 40_000 };

describe('Redis restart with requests in flight', () => {
  const { kafkaBrokers } = servicesEnv();
  let redis: LocalServices;
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let results: ResultsTopic | undefined;
  /** Resolves once the upstream has answered n requests (the reply hook runs as it answers). */
  let answeredUpstream: (n: number) => Promise<void>;

  before(async () => {
    redis = await startLocalServices({ only: 'redis' });
    upstream = await startFakeOpenAI({ latencyMs, tokenIntervalMs: 50 });
    let replies = 0;
    const waiters: { n: number; resolve: () => void }[] = [];
    upstream.reply = (body) => {
      replies++;
      for (const w of waiters.filter((x) => replies >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      return body.stream === true ? { text: streamText } : {};
    };
    answeredUpstream = (n) => (replies >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve })));
    gateway = await startTestGateway({
      mode: 'kafka',
      kafkaBrokers,
      redisUrl: redis.redisUrl,
      config: { worker: { claimLeaseMs: 3_000 }, providers: fakeOpenAIProvider(upstream.url) },
    });
  });

  after(() =>
    cleanUpInOrder(
      () => results?.close(),
      () => gateway?.close(1_000),
      () => upstream?.close(),
      () => redis?.clean(),
    ),
  );

  it('completes every accepted request and resumes live delivery after Redis comes back', async (t) => {
    const run = randomBytes(3).toString('hex');
    const before = Array.from({ length: inFlight }, (_, i) => `before the restart ${run} ${i}`);
    const beforeAnswers = before.map((c) => sendChat(gateway.url, c, timeout));
    const stream = openStream(gateway.url, `a stream across the restart ${run}`, timeout);
    await within(upstream.waitForRequests(inFlight + 1), 15_000, 'the upstream to receive every request');

    // Redis dies with every request at the upstream; the upstream answers while it is away.
    await redis.kill('redis');
    await within(answeredUpstream(inFlight + 1), 15_000, 'the upstream to answer every request');
    const duringContent = `while Redis is away ${run}`;
    const during = sendChat(gateway.url, duringContent, timeout);
    await redis.start('redis');

    const answered = await Promise.all(beforeAnswers);
    for (const [i, a] of answered.entries()) {
      assert.equal(a.status, 200, `request ${i}: ${JSON.stringify(a.body)}`);
      assert.equal(a.content, `Echo: ${before[i]}`);
    }
    // The stream's tokens crossed the outage: it ends complete, or with an explicit error; no gap, no repeat.
    const reading = await stream;
    const end = await reading.ended;
    assert.ok(streamText.startsWith(reading.text()), `the stream's text has a gap or a repeat: ${reading.text()}`);
    assert.notEqual(end.kind, 'cut', 'the stream ended silently');
    if (end.kind === 'done') assert.equal(reading.text(), streamText);
    assert.deepEqual(reading.afterEnd, []);

    const duringAnswer = await during;
    if (duringAnswer.status === 200) {
      assert.equal(duringAnswer.content, `Echo: ${duringContent}`);
    } else {
      assert.equal(duringAnswer.status, 503, JSON.stringify(duringAnswer.body));
      assert.equal(duringAnswer.errorCode, 'store_unavailable');
      assert.equal(duringAnswer.headers.get('retry-after'), '1');
    }

    // Live delivery after the restart: new requests answer as before.
    const afterContents = Array.from({ length: 5 }, (_, i) => `after the restart ${run} ${i}`);
    const afterAnswers = await Promise.all(afterContents.map((c) => sendChat(gateway.url, c, timeout)));
    for (const [i, a] of afterAnswers.entries()) {
      assert.equal(a.status, 200, `request after restart ${i}: ${JSON.stringify(a.body)}`);
      assert.equal(a.content, `Echo: ${afterContents[i]}`);
      assert.ok(a.elapsedMs < latencyMs + 2_000, `request after restart ${i} took ${a.elapsedMs} ms`);
    }
    t.diagnostic(`during the outage: ${duringAnswer.status} ${duringAnswer.errorCode ?? ''} after ${duringAnswer.elapsedMs} ms; slowest in-flight answer ${Math.max(...answered.map((a) => a.elapsedMs))} ms; stream ${end.kind} with ${reading.text().length}/${streamText.length} characters`);

    // Nothing accepted is lost: each accepted id is in the durable record with its one answer.
    const accepted: [SyncAnswer, string][] = [...answered.map((a, i): [SyncAnswer, string] => [a, before[i]]), ...afterAnswers.map((a, i): [SyncAnswer, string] => [a, afterContents[i]])];
    if (duringAnswer.status === 200) accepted.push([duringAnswer, duringContent]);
    const record = await readResultsTopic(kafkaBrokers, gateway.prefix);
    results = record;
    await record.waitFor(accepted.map(([a]) => a.requestId ?? ''), 20_000);
    for (const [a, content] of accepted) {
      const distinct = new Set((record.byId.get(a.requestId ?? '') ?? []).map(answerOf));
      assert.deepEqual([...distinct], [syncAnswerOf(a)], `${a.requestId} (${content})`);
    }
  });
});

// Redis keeps no data across a restart, so the execution claims of requests in flight vanish with
// it. If their partition then moves to another worker (a scale-up, a deploy), the redelivered
// requests find no claim and no result, and run a second time beside the first execution.
describe('Redis restart, then a rebalance, with requests in flight', () => {
  const { kafkaBrokers } = servicesEnv();
  let redis: LocalServices;
  let slow: FakeOpenAI;
  let fast: FakeOpenAI;
  let gateway: TestGateway;
  let joiner: TestGateway | undefined;
  let results: ResultsTopic | undefined;

  before(async () => {
    redis = await startLocalServices({ only: 'redis' });
    [slow, fast] = await Promise.all([startFakeOpenAI({ latencyMs: 8_000 }), startFakeOpenAI({ latencyMs: 100 })]);
    gateway = await startTestGateway({
      mode: 'kafka',
      kafkaBrokers,
      redisUrl: redis.redisUrl,
      config: { ...fastRecoveryConfig(), providers: fakeOpenAIProvider(slow.url) },
    });
  });

  after(() =>
    cleanUpInOrder(
      () => results?.close(),
      () => joiner?.close(1_000),
      () => gateway?.close(1_000),
      () => Promise.all([slow?.close(), fast?.close()]),
      () => redis?.clean(),
    ),
  );

  it('executes each request once although its claim was lost (redis_restart_loses_claims_so_a_rebalance_runs_requests_twice)', async (t) => {
    const run = randomBytes(3).toString('hex');
    const contents = Array.from({ length: 6 }, (_, i) => `claim lost ${run} ${i}`);
    const answers = Promise.all(contents.map((c) => sendChat(gateway.url, c, timeout)));
    await within(slow.waitForRequests(contents.length), 15_000, 'the first worker to start every request');

    await redis.kill('redis');
    await redis.start('redis');
    // A second worker joins the group and takes over one of the two partitions.
    joiner = await startTestGateway({
      mode: 'kafka',
      roles: ['worker'],
      kafkaBrokers,
      redisUrl: redis.redisUrl,
      config: { ...fastRecoveryConfig(), prefix: gateway.prefix, providers: fakeOpenAIProvider(fast.url) },
    });
    const answered = await answers;
    for (const [i, a] of answered.entries()) {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(a.content, `Echo: ${contents[i]}`);
    }
    const record = await readResultsTopic(kafkaBrokers, gateway.prefix);
    results = record;
    await record.waitFor(answered.map((a) => a.requestId ?? ''), 20_000);
    // Both executions finish and record: wait until the slow upstream's answers are in too.
    await record.until(() => [...record.byId.values()].reduce((n, list) => n + list.length, 0) >= contents.length + fast.requests.length, 20_000, () => 'the first worker to record its results');
    t.diagnostic(`first worker called ${slow.requests.length}, the joiner ${fast.requests.length}`);
    for (const a of answered) {
      assert.deepEqual([...new Set((record.byId.get(a.requestId ?? '') ?? []).map(answerOf))], [syncAnswerOf(a)], `${a.requestId} has a second, different answer recorded`);
    }
    assert.equal(slow.requests.length + fast.requests.length, contents.length, 'each request reached an upstream once');
  });
});
