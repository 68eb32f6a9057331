// The trace context in message headers: what injectTraceHeaders writes (W3C traceparent /
// tracestate, on a copy), what extractTraceContext reads back, and that both leave everything as
// it was when nothing is registered (tracing off).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { context, propagation, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TraceState, W3CTraceContextPropagator } from '@opentelemetry/core';
import { extractTraceContext, inTraceContextOf, injectTraceHeaders } from './tracing.ts';

const producer: SpanContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: TraceFlags.SAMPLED,
  traceState: new TraceState('vendor=opaque,other=1'),
};
const producerHeader = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('trace headers with tracing off (nothing registered)', () => {
  it('injects nothing and hands back the very same headers object', () => {
    const headers = { 'spillway-request-id': 'r1' };
    assert.equal(injectTraceHeaders(headers), headers);
    // Even a context holding a span carries nothing without a propagator.
    const out = injectTraceHeaders(headers, trace.setSpanContext(context.active(), producer));
    assert.deepEqual(out, { 'spillway-request-id': 'r1' });
  });

  it('extracts no span context from a traceparent header', () => {
    assert.equal(trace.getSpanContext(extractTraceContext({ traceparent: producerHeader })), undefined);
  });
});

describe('trace headers with the W3C propagator and a context manager', () => {
  before(() => {
    assert.ok(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
    assert.ok(propagation.setGlobalPropagator(new W3CTraceContextPropagator()));
  });

  after(() => {
    propagation.disable();
    context.disable();
  });

  it('writes traceparent and tracestate of the active span on a copy, leaving the original alone', () => {
    const headers = { 'spillway-request-id': 'r1' };
    const out = context.with(trace.setSpanContext(context.active(), producer), () => injectTraceHeaders(headers));
    assert.deepEqual(out, { 'spillway-request-id': 'r1', traceparent: producerHeader, tracestate: 'vendor=opaque,other=1' });
    assert.deepEqual(headers, { 'spillway-request-id': 'r1' });
  });

  it('writes the context it is given rather than the active one', () => {
    const out = injectTraceHeaders(undefined, trace.setSpanContext(context.active(), { ...producer, traceFlags: TraceFlags.NONE, traceState: undefined }));
    assert.deepEqual(out, { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' });
  });

  it('returns the same headers when the active context holds no span', () => {
    const headers = { a: '1' };
    assert.equal(injectTraceHeaders(headers), headers);
  });

  it('reads back what it wrote: same trace, same parent span, flags and state, marked remote', () => {
    const written = injectTraceHeaders({}, trace.setSpanContext(context.active(), producer)) ?? {};
    const read = trace.getSpanContext(extractTraceContext(written));
    assert.ok(read);
    assert.equal(read.traceId, producer.traceId);
    assert.equal(read.spanId, producer.spanId);
    assert.equal(read.traceFlags, TraceFlags.SAMPLED);
    assert.equal(read.isRemote, true);
    assert.equal(read.traceState?.serialize(), 'vendor=opaque,other=1');
  });

  it('ignores a malformed traceparent', () => {
    for (const bad of ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'garbage']) {
      assert.equal(trace.getSpanContext(extractTraceContext({ traceparent: bad })), undefined, bad);
    }
  });

  it('runs a handler in the context its headers carry, not in the one it was called from', async () => {
    const caller: SpanContext = { traceId: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', spanId: 'bbbbbbbbbbbbbbbb', traceFlags: TraceFlags.SAMPLED };
    await context.with(trace.setSpanContext(context.active(), caller), async () => {
      const carried = await inTraceContextOf({ traceparent: producerHeader }, async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return trace.getSpanContext(context.active());
      });
      assert.equal(carried?.spanId, producer.spanId);
      // A message without trace headers starts from nothing, whatever the caller's context.
      const none = await inTraceContextOf({}, async () => trace.getSpanContext(context.active()));
      assert.equal(none, undefined);
    });
  });
});
