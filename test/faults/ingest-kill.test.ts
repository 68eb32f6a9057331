// kill -9 of ingest after Kafka acknowledged a request: the request still executes, its result is
// retrievable by id, and the client's retry with the same Idempotency-Key, sent to a new ingest
// process, gets that one answer under the same request id, without a second upstream call.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startFakeOpenAI, type ChatRequestBody, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { startSpillway, type SpillwayProcess } from '#test/support/spillway-process.ts';
import { configDir, fakeOpenAIProvider, fastRecoveryConfig, type ConfigDir } from '#test/support/config-file.ts';
import { readResultsTopic, answerOf, type ResultsTopic } from '#test/support/results-topic.ts';
import { sendChat, syncAnswerOf, type SyncAnswer } from '#test/support/chat-client.ts';
import { within } from '#test/support/within.ts';
import { cleanUpInOrder, stopOrKill } from '#test/support/cleanup.ts';
import { startHoldingProxy, type HoldingProxy } from '#test/support/holding-proxy.ts';

describe('kill -9 of ingest after the Kafka acknowledgement', () => {
  const { kafkaBrokers, redisUrl } = servicesEnv();
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let configs: ConfigDir;
  let ingestEnv: NodeJS.ProcessEnv;
  let results: ResultsTopic;
  const ingests: SpillwayProcess[] = [];
  const proxies: HoldingProxy[] = [];

  before(async () => {
    upstream = await startFakeOpenAI();
    const config = { ...fastRecoveryConfig(), providers: fakeOpenAIProvider(upstream.url) };
    gateway = await startTestGateway({ mode: 'kafka', roles: ['worker', 'results'], config });
    configs = await configDir();
    ingestEnv = { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: gateway.prefix, SPILLWAY_CONFIG: await configs.write('ingest', config) };
    results = await readResultsTopic(kafkaBrokers, gateway.prefix);
  });

  after(() =>
    cleanUpInOrder(
      () => Promise.all(ingests.map((p) => stopOrKill(p))),
      () => Promise.all(proxies.map((p) => p.close())),
      () => results?.close(),
      () => gateway?.close(1_000),
      () => upstream?.close(),
      () => configs?.remove(),
    ),
  );

  async function startIngest(redis = redisUrl): Promise<string> {
    const p = await within(startSpillway('ingest', { ...ingestEnv, REDIS_URL: redis }), 30_000, 'an ingest process to listen');
    ingests.push(p);
    return `http://127.0.0.1:${p.port}`;
  }

  const calls = (content: string): number => upstream.requests.filter((r) => (r.body as ChatRequestBody).messages.at(-1)?.content === content).length;

  /**
   * Sends a request with the key, and kill -9s its ingest once the upstream has it (so Kafka had
   * acknowledged it) and, with a proxy, once the proxy holds the ingest's writes to Redis.
   */
  async function sendAndKillIngest(content: string, key: string, proxy?: HoldingProxy): Promise<void> {
    const url = await startIngest(proxy?.url);
    const arrived = upstream.nextRequest();
    // Settled at once: the rejection comes while the test is still killing the process.
    const first = sendChat(url, content, { headers: { 'idempotency-key': key } }).then(
      (answer) => `answered ${answer.status}`,
      (err: unknown) => err,
    );
    const seen = await within(arrived, 15_000, 'the upstream to receive the request');
    assert.equal((seen.body as ChatRequestBody).messages.at(-1)?.content, content);
    if (proxy) await within(proxy.held, 5_000, 'the proxy to hold the ingest after its Idempotency-Key binding');
    await ingests[ingests.length - 1].stop('SIGKILL');
    const outcome = await within(first, 5_000, 'the client to see its connection fail');
    assert.ok(outcome instanceof TypeError, `the client loses its connection with the ingest process, not ${String(outcome)}`);
  }

  /** The one request id the results topic holds for this content. */
  function recordedIds(content: string): string[] {
    return [...results.byId].filter(([, list]) => list.some((r) => answerOf(r).endsWith(` Echo: ${content}`))).map(([id]) => id);
  }

  async function checkRetrievable(id: string, content: string): Promise<void> {
    const res = await fetch(`${gateway.url}/v1/requests/${id}`);
    assert.equal(res.status, 200);
    const view = (await res.json()) as { status: string; response: { choices: { message: { content: string } }[] } | null };
    assert.equal(view.status, 'completed');
    assert.equal(view.response?.choices[0].message.content, `Echo: ${content}`);
  }

  it('a retry that reaches a new ingest while the request is still running gets its answer', async () => {
    const content = `ingest dies while running ${randomBytes(3).toString('hex')}`;
    const key = `retry-running-${content}`;
    upstream.enqueue({ kind: 'slow-first-byte', ms: 6_000 });
    await sendAndKillIngest(content, key);

    const retry = await sendChat(await startIngest(), content, { headers: { 'idempotency-key': key } });
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(retry.content, `Echo: ${content}`);
    assert.ok(retry.requestId);
    await results.waitFor([retry.requestId], 10_000);
    assert.deepEqual(recordedIds(content), [retry.requestId], 'the retry names the request the dead ingest accepted, and no other was created');
    assert.deepEqual([...new Set((results.byId.get(retry.requestId) ?? []).map(answerOf))], [syncAnswerOf(retry)], 'the retry got the recorded answer');
    await checkRetrievable(retry.requestId, content);
    assert.equal(calls(content), 1, 'the upstream was called once');
  });

  it('a retry after the request completed gets the stored answer', async () => {
    const content = `ingest dies then request completes ${randomBytes(3).toString('hex')}`;
    const key = `retry-done-${content}`;
    upstream.enqueue({ kind: 'slow-first-byte', ms: 1_000 });
    await sendAndKillIngest(content, key);

    // The request completes with no ingest alive: its result reaches the durable record.
    await results.until(() => recordedIds(content).length > 0, 10_000, () => `no result recorded for ${content}`);
    const [id] = recordedIds(content);
    await checkRetrievable(id, content);

    const retry = await sendChat(await startIngest(), content, { headers: { 'idempotency-key': key } });
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    assert.equal(retry.content, `Echo: ${content}`);
    assert.equal(retry.requestId, id);
    assert.deepEqual(recordedIds(content), [id]);
    assert.deepEqual([...new Set((results.byId.get(id) ?? []).map(answerOf))], [syncAnswerOf(retry)], 'the retry got the recorded answer');
    assert.equal(calls(content), 1, 'the upstream was called once');
  });

  // The narrowest window after the acknowledgement: the dead ingest had not yet recorded in Redis
  // that the key's request was accepted (the binding stays 'pending'). A proxy in front of Redis
  // holds every write the ingest makes after binding the key, as if it died just before them.
  it('a retry gets the accepted request even when ingest died before recording the acceptance (ingest_killed_before_recording_acceptance_strands_idempotency_key)', async (t) => {
    const content = `ingest dies before recording acceptance ${randomBytes(3).toString('hex')}`;
    const key = `retry-pending-${content}`;
    const proxy = await startHoldingProxy(redisUrl, `${gateway.prefix}:idem:`);
    proxies.push(proxy);
    upstream.enqueue({ kind: 'slow-first-byte', ms: 1_000 });
    await sendAndKillIngest(content, key, proxy);
    await results.until(() => recordedIds(content).length > 0, 10_000, () => `no result recorded for ${content}`);
    const [id] = recordedIds(content);

    // A client retries as told: after Retry-After on a 409, for up to 15 s.
    const url = await startIngest();
    const tries: string[] = [];
    let retry: SyncAnswer | undefined;
    for (let attempt = 0; attempt < 15; attempt++) {
      retry = await sendChat(url, content, { headers: { 'idempotency-key': key } });
      tries.push(retry.errorCode ? `${retry.status} ${retry.errorCode}` : String(retry.status));
      if (retry.status !== 409) break;
      await new Promise((resolve) => setTimeout(resolve, Number(retry?.headers.get('retry-after') ?? 1) * 1_000));
    }
    t.diagnostic(`retries: ${tries.join(', ')}; the retry's request ${retry?.requestId === id ? 'is the accepted one' : `is a new one (${retry?.requestId})`}; upstream calls ${calls(content)}`);
    assert.equal(retry?.status, 200, JSON.stringify(retry?.body));
    assert.equal(retry?.requestId, id, 'the retry names the request the dead ingest had accepted, not a new one');
    assert.equal(calls(content), 1, 'the upstream was called once');
    assert.deepEqual(tries, ['200'], 'the first retry already gets the answer');
  });
});
