// kill -9 of a worker mid-stream: a stream either continues to its full text and [DONE], or ends
// with an explicit error event; never a clean-looking end with text missing, never repeated text.
// Each worker process calls its own fake upstream, so the test knows which worker runs which stream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startFakeOpenAI, type ChatRequestBody, type FakeOpenAI, type RecordedRequest } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { startSpillway, type SpillwayProcess } from '#test/support/spillway-process.ts';
import { configDir, fakeOpenAIProvider, fastRecoveryConfig, type ConfigDir } from '#test/support/config-file.ts';
import { waitForGroupMembers } from '#test/support/consumer-group.ts';
import { readResultsTopic, answerOf, type ResultsTopic } from '#test/support/results-topic.ts';
import { openStream, type StreamReading } from '#test/support/chat-client.ts';
import { within } from '#test/support/within.ts';
import { cleanUpInOrder, stopOrKill } from '#test/support/cleanup.ts';

const streams = 4;
const words = 60;
const deadlineMs = 40_000;

function lastUserText(body: unknown): string {
  const messages = (body as ChatRequestBody).messages;
  const content = messages.filter((m) => m.role === 'user').at(-1)?.content;
  return typeof content === 'string' ? content : '';
}

/**
 * What the upstream answers: the intended text, or — when the request ends with the assistant's
 * partial answer, as a continuation after a worker died does — the rest of it.
 */
function replyFor(body: unknown): string {
  const intended = intendedText(lastUserText(body));
  const last = (body as ChatRequestBody).messages.at(-1);
  const partial = last?.role === 'assistant' && typeof last.content === 'string' ? last.content : '';
  return partial && intended.startsWith(partial) ? intended.slice(partial.length) : intended;
}

/** The reply the upstream streams for a prompt: distinct words, so a repeat cannot pass as a prefix. */
function intendedText(prompt: string): string {
  return Array.from({ length: words }, (_, i) => `${prompt.replace(/\s+/g, '_')}#${i}`).join(' ');
}

describe('kill -9 of a worker mid-stream', () => {
  const { kafkaBrokers, redisUrl } = servicesEnv();
  const upstreams: FakeOpenAI[] = [];
  const workers: SpillwayProcess[] = [];
  let gateway: TestGateway;
  let configs: ConfigDir;
  let results: ResultsTopic | undefined;

  before(async () => {
    for (let i = 0; i < 2; i++) {
      const upstream = await startFakeOpenAI({ tokenIntervalMs: 100 });
      upstream.reply = (body) => ({ text: replyFor(body) });
      upstreams.push(upstream);
    }
    gateway = await startTestGateway({ mode: 'kafka', roles: ['ingest', 'results'], config: { ...fastRecoveryConfig(), providers: fakeOpenAIProvider(upstreams[0].url) } });
    configs = await configDir();
    for (const [i, upstream] of upstreams.entries()) {
      const config = await configs.write(`worker-${i}`, { ...fastRecoveryConfig(), providers: fakeOpenAIProvider(upstream.url) });
      workers.push(await startSpillway('worker', { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: gateway.prefix, SPILLWAY_CONFIG: config }));
    }
    await waitForGroupMembers(kafkaBrokers, `${gateway.prefix}.worker`, 2);
  });

  after(() =>
    cleanUpInOrder(
      () => Promise.all(workers.map((w) => stopOrKill(w))),
      () => results?.close(),
      () => gateway?.close(1_000),
      () => Promise.all(upstreams.map((u) => u.close())),
      () => configs?.remove(),
    ),
  );

  it('ends every stream with its full text and [DONE] or an explicit error, never a silent cut', async (t) => {
    const run = randomBytes(3).toString('hex');
    const prompts = Array.from({ length: streams }, (_, i) => `stream ${run} ${i}`);
    const readings: StreamReading[] = await Promise.all(
      prompts.map((p) => openStream(gateway.url, p, { headers: { 'x-spillway-timeout-ms': String(deadlineMs) }, clientTimeoutMs: deadlineMs + 10_000 })),
    );
    for (const r of readings) assert.equal(r.status, 200);

    // The client has read part of the first stream: kill the worker producing it.
    await within(readings[0].waitForDeltas(5), 15_000, 'the client to read part of the first stream');
    const calls = (u: FakeOpenAI): string[] => u.requests.map((r: RecordedRequest) => lastUserText(r.body));
    const victim = upstreams.findIndex((u) => calls(u).includes(prompts[0]));
    assert.ok(victim >= 0, 'one of the upstreams is streaming the first request');
    await workers[victim].stop('SIGKILL');
    const onVictim = new Set(calls(upstreams[victim]));

    const ends = await within(Promise.all(readings.map((r) => r.ended)), deadlineMs, 'every stream to end');
    const summary: string[] = [];
    for (const [i, r] of readings.entries()) {
      const end = ends[i];
      const intended = intendedText(prompts[i]);
      const text = r.text();
      summary.push(`${i}:${onVictim.has(prompts[i]) ? 'killed' : 'survivor'}:${end.kind}:${text.length}/${intended.length}:${r.elapsedMs()}ms`);
      assert.ok(intended.startsWith(text), `stream ${i} text is not a prefix of the answer (repeated or foreign text): ${JSON.stringify(text.slice(0, 200))}`);
      assert.deepEqual(r.afterEnd, [], `stream ${i} sent events after its end`);
      assert.notEqual(end.kind, 'cut', `stream ${i} ended silently after ${text.length} of ${intended.length} characters: ${end.kind === 'cut' ? end.reason : ''}`);
      if (end.kind === 'done') assert.equal(text, intended, `stream ${i} ended with [DONE] but text is missing`);
      if (end.kind === 'error') {
        const code = (end.error as { code?: unknown } | null)?.code;
        assert.notEqual(code, 'deadline_exceeded', `stream ${i} was only ended by its deadline: the redelivery never ended it`);
      }
      if (!onVictim.has(prompts[i])) assert.equal(end.kind, 'done', `stream ${i} ran on the surviving worker and should have finished`);
    }
    assert.ok(onVictim.has(prompts[0]));
    t.diagnostic(summary.join(' '));

    // The durable record has one answer per stream, the same in every message.
    const record = await readResultsTopic(kafkaBrokers, gateway.prefix);
    results = record;
    const ids = readings.map((r) => r.requestId ?? '');
    await record.waitFor(ids, 20_000);
    for (const [i, id] of ids.entries()) {
      const distinct = new Set((record.byId.get(id) ?? []).map(answerOf));
      assert.equal(distinct.size, 1, `stream ${i} (${id}) has different answers in the results topic: ${[...distinct].join(' | ')}`);
      const [answer] = distinct;
      if (ends[i].kind === 'done') assert.equal(answer, `succeeded ${readings[i].completionId()} ${intendedText(prompts[i])}`);
      else assert.match(answer, /^failed /, `stream ${i} ended with an error event but its recorded result is ${answer}`);
    }
  });

  // Nothing had reached the client when its worker died, so nothing stands in the way of running
  // the request again on another worker: the client should get the whole stream.
  it('runs a stream again when its worker died before the first token (worker_kill_before_first_token_fails_the_stream)', async (t) => {
    // Two live workers again: replace the one the previous test killed.
    for (const [i, w] of workers.entries()) {
      if (w.child.exitCode !== null || w.child.signalCode !== null) {
        const config = await configs.write(`worker-${i}`, { ...fastRecoveryConfig(), providers: fakeOpenAIProvider(upstreams[i].url) });
        workers[i] = await startSpillway('worker', { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: gateway.prefix, SPILLWAY_CONFIG: config });
      }
    }
    await waitForGroupMembers(kafkaBrokers, `${gateway.prefix}.worker`, 2);

    const prompt = `stream before first token ${randomBytes(3).toString('hex')}`;
    for (const u of upstreams) u.enqueue({ kind: 'slow-first-byte', ms: 4_000 });
    const arrivals = upstreams.map((u, i) => u.nextRequest().then(() => i));
    const opening = openStream(gateway.url, prompt, { headers: { 'x-spillway-timeout-ms': String(deadlineMs) }, clientTimeoutMs: deadlineMs + 10_000 });
    const victim = await within(Promise.race(arrivals), 15_000, 'a worker to call its upstream');
    await workers[victim].stop('SIGKILL');

    const reading = await opening;
    const end = await within(reading.ended, deadlineMs, 'the stream to end');
    t.diagnostic(`status ${reading.status}, ${end.kind}${end.kind === 'error' ? ` ${JSON.stringify(end.error).slice(0, 200)}` : ''}, ${reading.text().length} characters after ${reading.elapsedMs()} ms`);
    assert.equal(reading.status, 200, 'the client gets a stream, not an error');
    assert.equal(end.kind, 'done');
    assert.equal(reading.text(), intendedText(prompt));
  });
});
