// OpenTelemetry tracing end to end, on real Kafka and Redis: one request whose first target answers
// 503 and whose fallback answers is one trace — the ingest server span (continuing the client's
// traceparent), its produce, the worker's process span whose parent came through the Kafka
// headers, one span per upstream attempt, the result's produce and the results service's process
// span — with each Kafka client. And with no OTEL_* variable nothing is registered and requests
// still work.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { context, propagation, ProxyTracerProvider, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { Kafka, logLevel } from 'kafkajs';
import type { ExportResult } from '@opentelemetry/core';
import { createLogger } from '#libs/telemetry/logger.ts';
import { tracer } from '#libs/telemetry/tracing.ts';
import { registerTracing, type Tracing } from '#libs/telemetry/tracing-sdk.ts';
import { startTracingFromEnv } from '#libs/telemetry/tracing-settings.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { chat } from '#test/support/chat-exchange.ts';
import { breakerOff, fakeProvider } from '#test/support/fake-provider.ts';
import { within } from '#test/support/within.ts';

/** Keeps exported spans and says when more arrive, so a test awaits a span instead of sleeping. */
class WatchedExporter extends InMemorySpanExporter {
  private readonly arrivals = new EventTarget();

  override export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    super.export(spans, resultCallback);
    this.arrivals.dispatchEvent(new Event('export'));
  }

  /** Resolves once check() holds over the spans exported so far. */
  until(check: (spans: ReadableSpan[]) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const onExport = (): void => {
        if (!check(this.getFinishedSpans())) return;
        this.arrivals.removeEventListener('export', onExport);
        resolve();
      };
      this.arrivals.addEventListener('export', onExport);
      onExport();
    });
  }
}

function assertNothingRegistered(): void {
  const provider = trace.getTracerProvider();
  assert.ok(provider instanceof ProxyTracerProvider);
  assert.equal(provider.getDelegate().constructor.name, 'NoopTracerProvider', 'the global tracer provider is the no-op one');
  assert.equal(tracer().startSpan('probe').isRecording(), false);
  assert.deepEqual(propagation.fields(), [], 'no propagator');
  const key = Symbol('probe');
  context.with(ROOT_CONTEXT.setValue(key, 1), () => assert.equal(context.active().getValue(key), undefined, 'no context manager'));
}

/** The one span that matches; fails naming what was looked for and what there was. */
function one(spans: ReadableSpan[], what: string, match: (s: ReadableSpan) => boolean): ReadableSpan {
  const found = spans.filter(match);
  assert.equal(found.length, 1, `expected one ${what}, found ${found.length} among: ${spans.map((s) => s.name).join(', ')}`);
  return found[0];
}

function assertChildOf(child: ReadableSpan, parent: ReadableSpan, opts: { remote: boolean }): void {
  assert.equal(child.spanContext().traceId, parent.spanContext().traceId, `${child.name} is in the trace of ${parent.name}`);
  assert.equal(child.parentSpanContext?.spanId, parent.spanContext().spanId, `${child.name} is a child of ${parent.name}`);
  assert.equal(child.parentSpanContext?.isRemote ?? false, opts.remote, `${child.name}'s parent ${opts.remote ? 'came through headers' : 'is in-process'}`);
}

/** The headers of a request's message on the interactive topic, read by a consumer group of the test's own. */
async function requestMessageHeaders(prefix: string, requestId: string): Promise<Record<string, string>> {
  const kafka = new Kafka({ clientId: 'tracing-test', brokers: servicesEnv().kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${prefix}.tracing-test-reader`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [`${prefix}.requests.interactive`], fromBeginning: true });
    const found = new Promise<Record<string, string>>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          if (message.key?.toString() !== requestId) return;
          resolve(Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)])));
        },
      });
    });
    return await within(found, 15_000, `the message of ${requestId} on the requests topic`);
  } finally {
    await consumer.disconnect();
  }
}

const clientTraceId = '0af7651916cd43dd8448eb211c80319c';
const clientSpanId = 'b7ad6b7169203331';

describe('tracing off: no OTEL_* variable set', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    for (const name of Object.keys(process.env)) if (name.startsWith('OTEL_')) delete process.env[name];
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({ mode: 'kafka', config: { providers: { primary: fakeProvider(upstream.url) } } });
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
  });

  it('registers nothing at start-up, and a request carrying a traceparent still works', async () => {
    assert.equal(await startTracingFromEnv('gateway', createLogger({ level: 'silent' })), undefined);
    assertNothingRegistered();
    const answer = await chat(gateway.url, { model: 'primary/m', content: 'untraced', headers: { traceparent: `00-${clientTraceId}-${clientSpanId}-01` } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.content, 'Echo: untraced');
    const headers = await requestMessageHeaders(gateway.prefix, answer.requestId);
    assert.equal(headers['spillway-request-id'], answer.requestId);
    assert.equal(headers.traceparent, undefined, "the client's traceparent is not carried when tracing is off");
  });
});

for (const client of ['kafkajs', 'platformatic'] as const) {
  describe(`tracing on: a request that failed over is one trace through every hop (${client})`, () => {
    let primary: FakeOpenAI;
    let backup: FakeOpenAI;
    let gateway: TestGateway;
    let tracing: Tracing | undefined;
    const exporter = new WatchedExporter();

    before(async () => {
      [primary, backup] = await Promise.all([startFakeOpenAI(), startFakeOpenAI()]);
      tracing = registerTracing({ exporters: [exporter], serviceName: 'spillway-test', immediate: true });
      gateway = await startTestGateway({
        mode: 'kafka',
        config: {
          kafka: { client },
          providers: { primary: fakeProvider(primary.url), backup: fakeProvider(backup.url) },
          models: { chat: { targets: ['primary/m'], fallbacks: ['backup/m'] } },
          // The 503 goes straight to the fallback: two attempts, one per target.
          routing: { retry: { overloaded: { attempts: 0 } }, breaker: breakerOff },
        },
      });
    });

    after(async () => {
      await gateway?.close(1_000);
      await tracing?.shutdown();
      await Promise.all([primary?.close(), backup?.close()]);
    });

    it('links the ingest, produce, worker, attempt and results spans in the trace the client started', async () => {
      primary.enqueue({ kind: 'status', status: 503 });
      const answer = await chat(gateway.url, { model: 'chat', content: 'trace me', headers: { traceparent: `00-${clientTraceId}-${clientSpanId}-01` } });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
      const requestId = answer.requestId;
      const topics = { requests: `${gateway.prefix}.requests.interactive`, results: `${gateway.prefix}.results` };

      // The results service records the result, and the worker ends its span, after the client has
      // its answer: wait for those spans too.
      const inTrace = (spans: ReadableSpan[]): ReadableSpan[] => spans.filter((s) => s.spanContext().traceId === clientTraceId);
      const ended = (spans: ReadableSpan[], name: string): boolean => inTrace(spans).some((s) => s.name === name);
      await within(
        exporter.until((spans) => ended(spans, `process ${topics.results}`) && ended(spans, `process ${topics.requests}`) && inTrace(spans).some((s) => s.kind === SpanKind.SERVER)),
        15_000,
        'the results, worker and ingest spans of the traced request',
      );
      const spans = inTrace(exporter.getFinishedSpans());

      const server = one(spans, 'ingest server span', (s) => s.kind === SpanKind.SERVER);
      assert.equal(server.name, 'POST /v1/chat/completions');
      assert.equal(server.parentSpanContext?.spanId, clientSpanId, "the ingest span continues the client's traceparent");
      assert.equal(server.attributes['http.response.status_code'], 200);
      assert.equal(server.attributes['spillway.request_id'], requestId);
      assert.equal(server.attributes['spillway.priority'], 'interactive');
      assert.equal(server.attributes['gen_ai.request.model'], 'chat');
      assert.equal(server.resource.attributes['service.name'], 'spillway-test');

      const produce = one(spans, 'request produce span', (s) => s.name === `send ${topics.requests}`);
      assert.equal(produce.kind, SpanKind.PRODUCER);
      assertChildOf(produce, server, { remote: false });
      assert.equal(produce.attributes['messaging.system'], 'kafka');
      assert.equal(produce.attributes['messaging.destination.name'], topics.requests);
      assert.equal(produce.attributes['messaging.operation.type'], 'send');
      assert.equal(produce.attributes['spillway.request_id'], requestId);
      const headers = await requestMessageHeaders(gateway.prefix, requestId);
      assert.equal(headers.traceparent, `00-${clientTraceId}-${produce.spanContext().spanId}-01`, 'the Kafka message carries the produce span in its headers');

      const worker = one(spans, 'worker process span', (s) => s.name === `process ${topics.requests}`);
      assert.equal(worker.kind, SpanKind.CONSUMER);
      // Remote: the parent context was read from the Kafka message headers, not inherited in-process.
      assertChildOf(worker, produce, { remote: true });
      assert.equal(worker.attributes['messaging.operation.type'], 'process');
      assert.equal(worker.attributes['messaging.destination.name'], topics.requests);
      assert.equal(worker.attributes['messaging.consumer.group.name'], `${gateway.prefix}.worker`);
      assert.equal(worker.attributes['spillway.request_id'], requestId);
      assert.equal(worker.attributes['spillway.attempts'], 2);
      assert.equal(worker.status.code, SpanStatusCode.UNSET);

      const attempts = spans.filter((s) => s.kind === SpanKind.CLIENT).sort((a, b) => Number(a.attributes['spillway.attempt']) - Number(b.attributes['spillway.attempt']));
      assert.deepEqual(
        attempts.map((a) => [a.name, a.attributes['spillway.provider'], a.attributes['spillway.attempt'], a.attributes['spillway.fallback_index']]),
        [
          ['chat m', 'primary', 1, 0],
          ['chat m', 'backup', 2, 1],
        ],
      );
      for (const attempt of attempts) {
        assertChildOf(attempt, worker, { remote: false });
        assert.equal(attempt.attributes['gen_ai.operation.name'], 'chat');
        assert.equal(attempt.attributes['gen_ai.request.model'], 'm');
        assert.equal(attempt.attributes['gen_ai.provider.name'], 'openai-compatible');
        assert.equal(attempt.attributes['server.address'], '127.0.0.1');
        assert.equal(attempt.attributes['spillway.request_id'], requestId);
      }
      const [failed, answered] = attempts;
      assert.equal(failed.attributes['server.port'], Number(new URL(primary.url).port));
      assert.equal(failed.status.code, SpanStatusCode.ERROR);
      assert.equal(failed.attributes['spillway.failure_class'], 'overloaded');
      assert.equal(failed.attributes['error.type'], '503');
      assert.equal(failed.attributes['http.response.status_code'], 503);
      assert.equal(failed.attributes['gen_ai.usage.input_tokens'], undefined);

      const usage = (answer.body as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
      assert.ok(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
      assert.equal(answered.attributes['server.port'], Number(new URL(backup.url).port));
      assert.equal(answered.status.code, SpanStatusCode.UNSET);
      assert.equal(answered.attributes['error.type'], undefined);
      assert.equal(answered.attributes['spillway.failure_class'], undefined);
      assert.equal(answered.attributes['gen_ai.response.model'], 'm');
      assert.equal(answered.attributes['gen_ai.usage.input_tokens'], usage.prompt_tokens);
      assert.equal(answered.attributes['gen_ai.usage.output_tokens'], usage.completion_tokens);

      const resultProduce = one(spans, 'result produce span', (s) => s.name === `send ${topics.results}`);
      assert.equal(resultProduce.kind, SpanKind.PRODUCER);
      assertChildOf(resultProduce, worker, { remote: false });

      const results = one(spans, 'results process span', (s) => s.name === `process ${topics.results}`);
      assert.equal(results.kind, SpanKind.CONSUMER);
      assertChildOf(results, resultProduce, { remote: true });
      assert.equal(results.attributes['messaging.consumer.group.name'], `${gateway.prefix}.results`);
      assert.equal(results.attributes['spillway.request_id'], requestId);
      assert.equal(results.attributes['spillway.status'], 'succeeded');

      assert.equal(spans.length, 7, `every span of the request, no more: ${spans.map((s) => s.name).join(', ')}`);
    });

    it('undoes the registration: afterwards the API is the no-op again', async () => {
      await tracing?.shutdown();
      tracing = undefined;
      assertNothingRegistered();
      const answer = await chat(gateway.url, { model: 'chat', content: 'after tracing' });
      assert.equal(answer.status, 200);
    });
  });
}
