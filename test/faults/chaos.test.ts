// A bounded chaos run: sync requests arrive at a fixed rate while worker processes are killed
// (kill -9) one after another and replaced. Afterwards every sync client has had an answer (none
// hung), and every accepted request has exactly one answer in the results topic, the one its
// client got.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { startSpillway, type SpillwayProcess } from '#test/support/spillway-process.ts';
import { configDir, fakeOpenAIProvider, fastRecoveryConfig, type ConfigDir } from '#test/support/config-file.ts';
import { waitForGroupMembers } from '#test/support/consumer-group.ts';
import { readResultsTopic, answerOf, type ResultsTopic } from '#test/support/results-topic.ts';
import { sendChat, syncAnswerOf, tally, type SyncAnswer } from '#test/support/chat-client.ts';
import { within } from '#test/support/within.ts';
import { cleanUpInOrder } from '#test/support/cleanup.ts';

const total = 2_000;
const ratePerSecond = 100;
const workerCount = 3;
const killEveryMs = 4_000;
const deadlineMs = 60_000;
/** Six interactive partitions, so each of three workers owns some. */
const partitions = { interactive: 6, batch: 2, results: 2 };
/** Refusals that mean the request was never accepted. */
const notAccepted = new Set(['bus_unavailable', 'store_unavailable']);

describe('chaos: workers killed and replaced under a steady request rate', () => {
  const { kafkaBrokers, redisUrl } = servicesEnv();
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let configs: ConfigDir;
  let started = 0;
  const workers: SpillwayProcess[] = [];
  let results: ResultsTopic | undefined;

  before(async () => {
    upstream = await startFakeOpenAI({ latencyMs: 200 });
    const config = { ...fastRecoveryConfig(partitions), providers: fakeOpenAIProvider(upstream.url) };
    gateway = await startTestGateway({ mode: 'kafka', roles: ['ingest', 'results'], config });
    configs = await configDir();
    for (let i = 0; i < workerCount; i++) workers.push(await startWorker());
    await waitForGroupMembers(kafkaBrokers, `${gateway.prefix}.worker`, workerCount);
  });

  /** A worker process with its own upstream key, so the upstream's records say which worker called. */
  async function startWorker(): Promise<SpillwayProcess> {
    const n = started++;
    const config = { ...fastRecoveryConfig(partitions), providers: fakeOpenAIProvider(upstream.url, `sk-worker-${n}`) };
    const env = { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: gateway.prefix, SPILLWAY_CONFIG: await configs.write(`worker-${n}`, config) };
    return within(startSpillway('worker', env), 30_000, `worker ${n} to start`);
  }

  after(() =>
    cleanUpInOrder(
      () => Promise.all(workers.map((w) => w.stop('SIGKILL'))),
      () => results?.close(),
      () => gateway?.close(1_000),
      () => upstream?.close(),
      () => configs?.remove(),
    ),
  );

  it(`answers ${total} requests exactly once while workers die`, async (t) => {
    const run = randomBytes(3).toString('hex');
    const contents = Array.from({ length: total }, (_, i) => `chaos ${run} ${i}`);
    const begin = Date.now();
    const arrivalsMs = (total / ratePerSecond) * 1_000;

    // Open-loop arrivals: request i leaves at i / rate seconds, whatever the answers do.
    // Each outcome is settled as it comes: a client that gets no answer is counted, not thrown.
    const sent: Promise<SyncAnswer | Error>[] = [];
    const arrivals = (async () => {
      for (const [i, content] of contents.entries()) {
        const due = begin + (i * 1_000) / ratePerSecond;
        if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
        const leftAt = Date.now() - begin;
        sent.push(
          sendChat(gateway.url, content, { headers: { 'x-spillway-timeout-ms': String(deadlineMs) }, clientTimeoutMs: deadlineMs + 15_000 }).then(
            (a): SyncAnswer | Error => a,
            (err: unknown) => new Error(`sent at ${leftAt} ms, failed at ${Date.now() - begin} ms: ${String(err)}${err instanceof Error && err.cause ? ` (${String(err.cause)})` : ''}`),
          ),
        );
      }
    })();

    // Meanwhile: kill -9 the oldest worker every few seconds and start a replacement.
    let kills = 0;
    for (let at = killEveryMs; at < arrivalsMs; at += killEveryMs) {
      const wait = begin + at - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const victim = workers.shift();
      await victim?.stop('SIGKILL');
      kills++;
      workers.push(await startWorker());
    }
    await arrivals;
    const settled = await Promise.all(sent);
    const answerMs = Date.now() - begin;

    const failures = settled.flatMap((s, i) => (s instanceof Error ? [`${i}: ${s.message}`] : []));
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} clients got no answer at all`);
    const answers = settled.flatMap((s) => (s instanceof Error ? [] : [s]));
    const slowest = Math.max(...answers.map((a) => a.elapsedMs));
    t.diagnostic(`${kills} kills; outcomes ${JSON.stringify(tally(answers))}; slowest answer ${slowest} ms; all answered ${answerMs} ms after the first arrival; upstream calls ${upstream.requests.length}`);

    // Every answer is a 200 with the client's own answer, or a clean error naming its request.
    for (const [i, a] of answers.entries()) {
      assert.match(a.requestId ?? '', /^req_/, `answer ${i} (${a.status}) has no x-request-id`);
      if (a.status === 200) assert.equal(a.content, `Echo: ${contents[i]}`, `answer ${i} is someone else's`);
      else assert.ok(a.errorCode, `answer ${i} is a ${a.status} without an OpenAI-shaped error: ${JSON.stringify(a.body)}`);
    }
    assert.equal(new Set(answers.map((a) => a.requestId)).size, total, 'every request has its own id');

    // The durable record: one distinct answer per accepted request, the one its client got.
    const accepted = answers.flatMap((a, i) => (notAccepted.has(a.errorCode ?? '') ? [] : [{ a, content: contents[i] }]));
    const record = await readResultsTopic(kafkaBrokers, gateway.prefix);
    results = record;
    await record.waitFor(accepted.map(({ a }) => a.requestId ?? ''), 30_000);
    assert.deepEqual(record.invalid, []);
    let duplicates = 0;
    for (const { a, content } of accepted) {
      const messages = record.byId.get(a.requestId ?? '') ?? [];
      if (messages.length > 1) duplicates++;
      const distinct = [...new Set(messages.map(answerOf))];
      assert.deepEqual(distinct, [syncAnswerOf(a)], `${a.requestId} (${content}): the record differs from what its client got`);
    }
    t.diagnostic(`${accepted.length} accepted; ${duplicates} have the same result recorded more than once`);
    const calls = new Map<string, { at: number; key: string | undefined }[]>();
    for (const r of upstream.requests) {
      const c = String((r.body as { messages: { content: string }[] }).messages.at(-1)?.content);
      calls.set(c, [...(calls.get(c) ?? []), { at: r.receivedAt - begin, key: r.apiKey }]);
    }
    const repeated = [...calls.entries()].filter(([, x]) => x.length > 1);
    t.diagnostic(`re-executed ${repeated.length}: ${repeated.slice(0, 8).map(([c, x]) => `${c.split(' ').at(-1)}@${x.map((y) => `${y.key?.slice(3)}:${y.at}`).join(',')}`).join(' ')}`);
  });
});
