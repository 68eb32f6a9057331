// kill -9 of a worker in the middle of non-streaming requests: every accepted request still gets
// exactly one answer, delivered to its waiting client within its deadline. Each worker process
// calls its own fake upstream, so the test knows which requests the killed worker had started.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startFakeOpenAI, type FakeOpenAI, type RecordedRequest } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { startSpillway, type SpillwayProcess } from '#test/support/spillway-process.ts';
import { configDir, fakeOpenAIProvider, fastRecoveryConfig, type ConfigDir } from '#test/support/config-file.ts';
import { waitForGroupMembers } from '#test/support/consumer-group.ts';
import { readResultsTopic, answerOf, type ResultsTopic } from '#test/support/results-topic.ts';
import { sendChat, syncAnswerOf, tally } from '#test/support/chat-client.ts';
import { within } from '#test/support/within.ts';
import { cleanUpInOrder, stopOrKill } from '#test/support/cleanup.ts';

const requests = 40;
const deadlineMs = 30_000;

function userText(r: RecordedRequest): string {
  const body = r.body as { messages: { content: string }[] };
  return body.messages[body.messages.length - 1].content;
}

describe('kill -9 of a worker mid-request', () => {
  const { kafkaBrokers, redisUrl } = servicesEnv();
  let upstreamA: FakeOpenAI;
  let upstreamB: FakeOpenAI;
  let gateway: TestGateway;
  let configs: ConfigDir;
  let workerA: SpillwayProcess;
  let workerB: SpillwayProcess;
  let results: ResultsTopic | undefined;

  before(async () => {
    [upstreamA, upstreamB] = await Promise.all([startFakeOpenAI({ latencyMs: 800 }), startFakeOpenAI({ latencyMs: 800 })]);
    gateway = await startTestGateway({
      mode: 'kafka',
      roles: ['ingest', 'results'],
      config: { ...fastRecoveryConfig(), providers: fakeOpenAIProvider(upstreamA.url) },
    });
    configs = await configDir();
    const env = async (name: string, upstream: FakeOpenAI): Promise<NodeJS.ProcessEnv> => ({
      KAFKA_BROKERS: kafkaBrokers,
      REDIS_URL: redisUrl,
      SPILLWAY_PREFIX: gateway.prefix,
      SPILLWAY_CONFIG: await configs.write(name, { ...fastRecoveryConfig(), providers: fakeOpenAIProvider(upstream.url) }),
    });
    [workerA, workerB] = await Promise.all([startSpillway('worker', await env('worker-a', upstreamA)), startSpillway('worker', await env('worker-b', upstreamB))]);
    await waitForGroupMembers(kafkaBrokers, `${gateway.prefix}.worker`, 2);
  });

  after(() =>
    cleanUpInOrder(
      () => workerA?.stop('SIGKILL'),
      () => (workerB ? stopOrKill(workerB) : undefined),
      () => results?.close(),
      () => gateway?.close(1_000),
      () => Promise.all([upstreamA?.close(), upstreamB?.close()]),
      () => configs?.remove(),
    ),
  );

  it('answers every request once, with its own answer, although a worker died holding some', async (t) => {
    const run = randomBytes(3).toString('hex');
    const contents = Array.from({ length: requests }, (_, i) => `kill nine ${run} request ${i}`);
    const answers = Promise.all(contents.map((c) => sendChat(gateway.url, c, { headers: { 'x-spillway-timeout-ms': String(deadlineMs) }, clientTimeoutMs: deadlineMs + 10_000 })));

    // Both workers are calling their upstreams; kill one while its calls are in flight.
    await within(Promise.all([upstreamA.waitForRequests(5), upstreamB.waitForRequests(5)]), 15_000, 'both workers to call their upstreams');
    await workerA.stop('SIGKILL');

    const answered = await answers;
    t.diagnostic(`outcomes: ${JSON.stringify(tally(answered))}`);
    for (const [i, a] of answered.entries()) {
      assert.equal(a.status, 200, `request ${i}: ${JSON.stringify(a.body)}`);
      assert.equal(a.content, `Echo: ${contents[i]}`, `request ${i} got someone else's answer`);
      assert.ok(a.elapsedMs < deadlineMs, `request ${i} took ${a.elapsedMs} ms`);
      assert.match(a.requestId ?? '', /^req_/);
    }
    assert.equal(new Set(answered.map((a) => a.requestId)).size, requests, 'every request has its own id');

    // The killed worker's calls were re-executed by the survivor, and nothing else was called twice.
    const calledByA = upstreamA.requests.map(userText);
    const calledByB = upstreamB.requests.map(userText);
    assert.equal(new Set(calledByA).size, calledByA.length, 'the killed worker called nothing twice');
    assert.equal(new Set(calledByB).size, calledByB.length, 'the survivor called nothing twice');
    const reExecuted = calledByB.filter((c) => calledByA.includes(c));
    assert.ok(reExecuted.length > 0, 'the kill interrupted at least one call, which the survivor ran again');
    assert.deepEqual(new Set([...calledByA, ...calledByB]), new Set(contents), 'every request reached the upstream');

    t.diagnostic(`killed worker had started ${calledByA.length}; re-executed ${reExecuted.length}; slowest answer ${Math.max(...answered.map((a) => a.elapsedMs))} ms`);

    // The durable record: every request id has a result, and all its messages carry the one answer.
    const record = await readResultsTopic(kafkaBrokers, gateway.prefix);
    results = record;
    const ids = answered.map((a) => a.requestId ?? '');
    await record.waitFor(ids, 20_000);
    assert.deepEqual(record.invalid, []);
    for (const [i, id] of ids.entries()) {
      const messages = record.byId.get(id) ?? [];
      const distinct = new Set(messages.map(answerOf));
      assert.deepEqual([...distinct], [syncAnswerOf(answered[i])], `${id} has ${messages.length} result messages`);
    }
  });
});
