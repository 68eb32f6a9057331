// Kafka broker restart: while the broker is away ingest answers 503 with Retry-After promptly
// (no hang), and every request accepted before the stop, whether already running or still
// queued in Kafka, completes after the restart and ends up in the results topic. The gateway
// runs as a `spillway start` process on a private broker.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, uniquePrefix } from '#test/support/gateway.ts';
import { startLocalServices, type LocalServices } from '#test/support/local-services.ts';
import { startSpillway, type SpillwayProcess } from '#test/support/spillway-process.ts';
import { configDir, fakeOpenAIProvider, fastRecoveryConfig, type ConfigDir } from '#test/support/config-file.ts';
import { readResultsTopic, answerOf, type ResultsTopic } from '#test/support/results-topic.ts';
import { sendChat, syncAnswerOf, type SyncAnswer } from '#test/support/chat-client.ts';
import { within } from '#test/support/within.ts';
import { cleanUpInOrder, stopOrKill } from '#test/support/cleanup.ts';

const concurrency = 4;
const produceTimeoutMs = 2_000;
const graceMs = 10_000;
const timeout = { headers: { 'x-spillway-timeout-ms': '60000' }, clientTimeoutMs: 70_000 };

let kafka: LocalServices;
let upstream: FakeOpenAI;
let configs: ConfigDir;
const gateways: SpillwayProcess[] = [];

before(async () => {
  kafka = await startLocalServices({ only: 'kafka' });
  upstream = await startFakeOpenAI({ latencyMs: 2_500 });
  configs = await configDir();
});

after(async () => {
  await cleanUpInOrder(
    // A gateway that does not stop in time must not outlive the test.
    ...gateways.map((g) => () => stopOrKill(g)),
    () => upstream?.close(),
    () => kafka?.clean(),
    () => configs?.remove(),
  );
});

/** A `spillway start` process on the private broker; a small worker: half of 2×concurrency requests run, the rest wait in Kafka. */
async function startGateway(prefix: string): Promise<{ url: string; process: SpillwayProcess }> {
  const recovery = fastRecoveryConfig();
  const config = await configs.write(prefix, {
    prefix,
    kafka: { ...recovery.kafka, produceTimeoutMs },
    worker: { ...recovery.worker, concurrency },
    providers: fakeOpenAIProvider(upstream.url),
  });
  const p = await within(startSpillway('start', { KAFKA_BROKERS: kafka.kafkaBrokers, REDIS_URL: servicesEnv().redisUrl, SPILLWAY_CONFIG: config }), 30_000, 'the gateway to start');
  gateways.push(p);
  return { url: `http://127.0.0.1:${p.port}`, process: p };
}

describe('Kafka broker restart', () => {
  let results: ResultsTopic | undefined;
  after(() => results?.close());

  it('refuses promptly while the broker is away and completes everything accepted before it', async (t) => {
    const prefix = uniquePrefix();
    const { url } = await startGateway(prefix);
    const run = randomBytes(3).toString('hex');
    const contents = Array.from({ length: 2 * concurrency }, (_, i) => `accepted before the stop ${run} ${i}`);
    const before = upstream.requests.length;
    const answers = contents.map((c) => sendChat(url, c, timeout));
    // The worker runs `concurrency` of them; the rest were acknowledged in the same produce and wait in Kafka.
    await within(upstream.waitForRequests(before + concurrency), 15_000, 'the worker to start the first requests');
    const stopStarted = Date.now();
    await kafka.stop('kafka');
    const stopMs = Date.now() - stopStarted;

    const refused = await sendChat(url, `while the broker is away ${run}`, timeout);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.errorCode, 'bus_unavailable');
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.ok(refused.elapsedMs < produceTimeoutMs + 1_500, `the 503 took ${refused.elapsedMs} ms`);

    const restartStarted = Date.now();
    await kafka.start('kafka');
    const restartMs = Date.now() - restartStarted;

    const answered = await Promise.all(answers);
    for (const [i, a] of answered.entries()) {
      assert.equal(a.status, 200, `request ${i}: ${JSON.stringify(a.body)}`);
      assert.equal(a.content, `Echo: ${contents[i]}`);
    }
    assert.equal(upstream.requests.length - before, contents.length, 'each accepted request reached the upstream once');
    const afterRestart = Date.now();

    // Accepting again: a client that honours Retry-After gets through.
    let again: SyncAnswer | undefined;
    const tries: string[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      again = await sendChat(url, `after the restart ${run}`, timeout);
      tries.push(`${again.status}/${again.elapsedMs}ms`);
      if (again.status !== 503) break;
      await new Promise((resolve) => setTimeout(resolve, Number(again?.headers.get('retry-after') ?? 1) * 1_000));
    }
    assert.equal(again?.status, 200, JSON.stringify(again?.body));
    assert.equal(again?.content, `Echo: after the restart ${run}`);
    t.diagnostic(`broker stop ${stopMs} ms, 503 after ${refused.elapsedMs} ms, start ${restartMs} ms, last accepted answer ${Math.max(...answered.map((a) => a.elapsedMs))} ms, accepting again after ${Date.now() - afterRestart} ms (${tries.join(' ')})`);

    // Every accepted request is in the durable record, with its one answer.
    const record = await readResultsTopic(kafka.kafkaBrokers, prefix);
    results = record;
    await record.waitFor(answered.map((a) => a.requestId ?? ''), 30_000);
    for (const a of answered) {
      assert.deepEqual([...new Set((record.byId.get(a.requestId ?? '') ?? []).map(answerOf))], [syncAnswerOf(a)]);
    }
  });
});

// While the broker is away the Kafka client's consumers crash and restart on their own; a
// SIGTERM in that window must still let the work in flight finish and exit cleanly in the grace.
/** The gateway's own log lines after SIGTERM (not the Kafka client's reconnect noise), with their delay. */
function shutdownTrail(lines: string[], since: number): string {
  const events: string[] = [];
  for (const line of lines) {
    let entry: { time?: string; msg?: string; groupId?: string; err?: { message?: string } | string; kafkaNamespace?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.kafkaNamespace === 'Connection' || entry.kafkaNamespace === 'BrokerPool' || entry.msg?.startsWith('Restarting the consumer')) continue;
    const err = typeof entry.err === 'string' ? entry.err : entry.err?.message;
    events.push(`+${Date.parse(entry.time ?? '') - since}ms ${entry.msg ?? ''}${entry.groupId ? ` [${entry.groupId.split('.').slice(1).join('.')}]` : ''}${err ? `: ${err.slice(0, 100)}` : ''}`);
  }
  return events.slice(0, 12).join(' | ');
}

describe('SIGTERM while the broker is away', () => {
  it('lets the request in flight finish and exits 0 within the grace period (sigterm_during_kafka_outage_fails_shutdown)', async (t) => {
    const { url, process: gateway } = await startGateway(uniquePrefix());
    // Long enough to be still running at SIGTERM, well within the grace period.
    upstream.enqueue({ kind: 'slow-first-byte', ms: 6_000 });
    const arrived = upstream.nextRequest();
    const inFlight = sendChat(url, `in flight at SIGTERM ${randomBytes(3).toString('hex')}`, timeout).then(
      (a): SyncAnswer | Error => a,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    await within(arrived, 15_000, 'the worker to start the request');
    await kafka.stop('kafka');
    // The consumers notice the broker is gone and crash into their restart loop.
    await within(gateway.line(/Restarting the consumer/), 20_000, 'the Kafka consumer to crash and schedule a restart');

    const sigterm = Date.now();
    const mark = gateway.output.length;
    gateway.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([gateway.exited, new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), graceMs + 5_000)))]);
    clearTimeout(timer);
    const exitMs = Date.now() - sigterm;
    const answer = await inFlight;
    const failure = gateway.output.find((l) => l.includes('shutdown failed'));
    t.diagnostic(`exit ${code} after ${exitMs} ms; client: ${answer instanceof Error ? String(answer) : `${answer.status} after ${answer.elapsedMs} ms`}`);
    t.diagnostic(`after SIGTERM: ${shutdownTrail(gateway.output.slice(mark), sigterm)}`);
    assert.ok(!(answer instanceof Error), `the client in flight lost its connection: ${String(answer)}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(code, 0, failure ?? `exit ${code} ${exitMs} ms after SIGTERM`);
    assert.ok(exitMs < graceMs + 2_000, `exit took ${exitMs} ms`);
  });
});
