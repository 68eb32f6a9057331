// Start-up from the environment as `bin/cli.ts` does it: with no OTEL_* variable nothing is
// registered; with an OTLP endpoint the spans reach a collector (a local HTTP server here) in the
// protocol asked for, named after the role, and shutting down flushes what is still buffered.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, ProxyTracerProvider, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { createLogger } from './logger.ts';
import { tracer } from './tracing.ts';
import { startTracingFromEnv } from './tracing-settings.ts';

const logger = createLogger({ level: 'silent' });

interface Received {
  path: string;
  contentType: string;
  body: Buffer;
}

/** Asserts the API is the no-op: no delegate provider, no propagator, no context manager. */
function assertNothingRegistered(): void {
  const provider = trace.getTracerProvider();
  assert.ok(provider instanceof ProxyTracerProvider);
  assert.equal(provider.getDelegate().constructor.name, 'NoopTracerProvider');
  assert.equal(tracer().startSpan('probe').isRecording(), false);
  assert.deepEqual(propagation.fields(), []);
  const key = Symbol('probe');
  context.with(ROOT_CONTEXT.setValue(key, 1), () => assert.equal(context.active().getValue(key), undefined));
}

describe('tracing start-up from OTEL_* variables', () => {
  let collector: Server;
  let endpoint: string;
  const received: Received[] = [];
  const saved = { ...process.env };

  before(async () => {
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': String(req.headers['content-type']) }).end();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    for (const name of Object.keys(process.env)) if (name.startsWith('OTEL_')) delete process.env[name];
    received.length = 0;
  });

  after(async () => {
    process.env = saved;
    await new Promise((resolve) => collector.close(resolve));
  });

  it('registers nothing when no OTEL_* variable is set', async () => {
    assert.equal(await startTracingFromEnv('gateway', logger), undefined);
    assertNothingRegistered();
  });

  it('registers nothing when OTEL_SDK_DISABLED is true, even with an endpoint', async () => {
    process.env.OTEL_SDK_DISABLED = 'true';
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    assert.equal(await startTracingFromEnv('gateway', logger), undefined);
    assertNothingRegistered();
  });

  it('exports OTLP http/json to the endpoint on shutdown, as service spillway-<role>, then unregisters', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
    const tracing = await startTracingFromEnv('worker', logger);
    assert.ok(tracing);
    const span = tracer().startSpan('json span');
    assert.equal(span.isRecording(), true);
    span.setAttribute('spillway.request_id', 'req-json');
    span.end();
    await tracing.shutdown();

    assert.equal(received.length, 1, 'one export, flushed by the shutdown');
    const [request] = received;
    assert.equal(request.path, '/v1/traces');
    assert.match(request.contentType, /^application\/json/);
    const body = JSON.parse(request.body.toString('utf8')) as {
      resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { name: string }[] }[] }[];
    };
    const resource = body.resourceSpans[0].resource.attributes;
    assert.equal(resource.find((a) => a.key === 'service.name')?.value.stringValue, 'spillway-worker');
    assert.deepEqual(body.resourceSpans[0].scopeSpans[0].spans.map((s) => s.name), ['json span']);
    assertNothingRegistered();
  });

  it('exports OTLP http/protobuf to the traces endpoint, named by OTEL_SERVICE_NAME', async () => {
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `${endpoint}/custom/traces`;
    process.env.OTEL_SERVICE_NAME = 'gateway-eu-1';
    const tracing = await startTracingFromEnv('ingest', logger);
    assert.ok(tracing);
    tracer().startSpan('protobuf span').end();
    await tracing.shutdown();

    assert.equal(received.length, 1);
    const [request] = received;
    assert.equal(request.path, '/custom/traces');
    assert.equal(request.contentType, 'application/x-protobuf');
    // Protobuf strings are their UTF-8 bytes on the wire.
    assert.ok(request.body.includes('gateway-eu-1'), 'service.name from OTEL_SERVICE_NAME');
    assert.ok(!request.body.includes('spillway-ingest'), 'OTEL_SERVICE_NAME replaces the default');
    assert.ok(request.body.includes('protobuf span'));
    assertNothingRegistered();
  });
});
