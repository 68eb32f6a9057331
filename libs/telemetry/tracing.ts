// Spans along a request's whole path — ingest, the Kafka hop, the worker, results — written
// against @opentelemetry/api alone. With no SDK registered (tracing-sdk.ts) every call here is the
// API's no-op: nothing records, nothing is propagated, and attributes are built only for a span
// that records. The trace context crosses Kafka in the W3C `traceparent` / `tracestate` headers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';

const tracerName = 'spillway';

let cached: { provider: TracerProvider; tracer: Tracer } | undefined;

/**
 * The tracer of the global provider. Cached per provider, since `trace.disable()` (a test undoing
 * its registration) puts a new one in place and a tracer from the old one would go on recording.
 */
export function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (cached?.provider !== provider) cached = { provider, tracer: provider.getTracer(tracerName) };
  return cached.tracer;
}

/**
 * Headers carrying the trace context of `ctx` (the active context by default) as `traceparent`
 * and `tracestate`: a copy of `headers` with them added, or `headers` itself when `ctx` holds no
 * span (always so when tracing is off) or no propagator is registered.
 */
export function injectTraceHeaders(headers: Record<string, string> | undefined, ctx: Context = context.active()): Record<string, string> | undefined {
  if (!trace.getSpanContext(ctx)) return headers;
  const out: Record<string, string> = { ...headers };
  propagation.inject(ctx, out);
  return out;
}

/**
 * The context a message's headers carry, on a fresh root: a handler continues its producer's
 * trace, not whatever context the consuming code happened to run in.
 */
export function extractTraceContext(headers: Record<string, string>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** Runs `fn` in the trace context the headers carry (directly, when that is the context already). */
export function inTraceContextOf<T>(headers: Record<string, string>, fn: () => T): T {
  const ctx = extractTraceContext(headers);
  return ctx === context.active() ? fn() : context.with(ctx, fn);
}

/** Runs `fn` with `span` active, when it has a context to pass on; a no-op span changes nothing. */
export function withSpan<T>(span: Span, fn: () => T, parent: Context = context.active()): T {
  return isSpanContextValid(span.spanContext()) ? context.with(trace.setSpan(parent, span), fn) : fn();
}

/**
 * Marks a span failed: error status, `error.type` (low-cardinality), and the cause — an exception
 * (recorded as an event too) or a description.
 */
export function failSpan(span: Span, errorType: string, cause?: unknown): void {
  if (!span.isRecording()) return;
  span.setAttribute('error.type', errorType);
  if (cause instanceof Error) span.recordException(cause);
  const message = cause instanceof Error ? cause.message.slice(0, 300) : typeof cause === 'string' ? cause : undefined;
  span.setStatus({ code: SpanStatusCode.ERROR, ...(message !== undefined ? { message } : {}) });
}

function errorTypeOf(err: unknown): string {
  return err instanceof Error ? err.constructor.name : 'unknown';
}

const producerKind = { kind: SpanKind.PRODUCER };
const consumerKind = { kind: SpanKind.CONSUMER };
const serverKind = { kind: SpanKind.SERVER };

/**
 * A producer span around one produce of one keyed message. It is active while the bus produces,
 * so the bus puts its context in the message headers (libs/bus injects the active context).
 */
export async function traceProduce<T>(topic: string, key: string, produce: () => Promise<T>): Promise<T> {
  const span = tracer().startSpan(`send ${topic}`, producerKind);
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': topic,
      'messaging.kafka.message.key': key,
      'spillway.request_id': key,
    });
  }
  try {
    return await withSpan(span, produce);
  } catch (err) {
    failSpan(span, errorTypeOf(err), err);
    throw err;
  } finally {
    span.end();
  }
}

/** What a consumer span says about the message it processes. */
export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
}

/**
 * A consumer (`process`) span around the handling of one message. Its parent is the active
 * context, which the bus set from the message's headers; a throw marks it failed and goes on.
 * A handler that reads several topics may name the group itself (undefined here).
 */
export async function traceConsume<T>(message: ConsumedMessage, groupId: string | undefined, handle: (span: Span) => Promise<T>): Promise<T> {
  const span = tracer().startSpan(`process ${message.topic}`, consumerKind);
  if (span.isRecording()) {
    span.setAttributes({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': message.topic,
      'messaging.destination.partition.id': String(message.partition),
      'messaging.kafka.offset': Number(message.offset),
      ...(groupId !== undefined ? { 'messaging.consumer.group.name': groupId } : {}),
      ...(message.key !== null ? { 'messaging.kafka.message.key': message.key, 'spillway.request_id': message.key } : {}),
    });
  }
  try {
    return await withSpan(span, () => handle(span));
  } catch (err) {
    failSpan(span, errorTypeOf(err), err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Runs an HTTP handler in a server span, continuing the client's trace when its request carries a
 * `traceparent`. The span ends when the response closes, not when the handler returns: a stream
 * outlives its handler. `route` is the route template, e.g. /v1/chat/completions.
 */
export function traceServer<T>(req: IncomingMessage, res: ServerResponse, route: string, handle: () => T): T {
  const parent = propagation.extract(ROOT_CONTEXT, req.headers);
  const span = tracer().startSpan(`${req.method ?? 'GET'} ${route}`, serverKind, parent);
  if (span.isRecording()) {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    span.setAttributes({ 'http.request.method': req.method ?? 'GET', 'http.route': route, 'url.path': query >= 0 ? url.slice(0, query) : url, 'url.scheme': 'http' });
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) failSpan(span, String(res.statusCode));
      span.end();
    });
  }
  return withSpan(span, handle, parent);
}

/** The active span when it records, for adding what is learnt along the way. */
export function recordingSpan(): Span | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() ? span : undefined;
}
