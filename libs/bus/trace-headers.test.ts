// A produce carries the producer's trace context in the message headers and the consumer's
// handler runs in it, on the in-memory bus (the Kafka buses share the same two hooks; the
// end-to-end tracing test runs them against a broker).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace, type SpanContext } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { registerTracing, type Tracing } from '#libs/telemetry/tracing-sdk.ts';
import { tracer, withSpan } from '#libs/telemetry/tracing.ts';
import type { BusMessage } from './bus.ts';
import { MemoryBus } from './memory.ts';

describe('trace context across the bus', () => {
  let tracing: Tracing;
  let bus: MemoryBus;

  before(() => {
    tracing = registerTracing({ exporters: [new InMemorySpanExporter()], serviceName: 'bus-test', immediate: true });
    bus = new MemoryBus();
  });

  after(async () => {
    await bus.close();
    await tracing.shutdown();
  });

  async function roundTrip(topic: string, produce: (headers: Record<string, string>) => Promise<void>, headers: Record<string, string>): Promise<{ message: BusMessage; active: SpanContext | undefined }> {
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    let seen: (value: { message: BusMessage; active: SpanContext | undefined }) => void = () => undefined;
    const handled = new Promise<{ message: BusMessage; active: SpanContext | undefined }>((resolve) => (seen = resolve));
    const consumer = await bus.consume({
      groupId: `${topic}.group`,
      topics: [topic],
      concurrency: 1,
      handle: async (message) => seen({ message, active: trace.getSpanContext(context.active()) }),
    });
    await produce(headers);
    const result = await handled;
    await consumer.stop(0);
    return result;
  }

  it('puts the active span in traceparent, and the handler continues from it as a remote parent', async () => {
    const span = tracer().startSpan('producer');
    const headers = { 'spillway-request-id': 'r1' };
    const { message, active } = await roundTrip('traced', (h) => withSpan(span, () => bus.produce('traced', [{ key: 'r1', value: 'v', headers: h }])), headers);
    span.end();
    const { traceId, spanId } = span.spanContext();
    assert.equal(message.headers.traceparent, `00-${traceId}-${spanId}-01`);
    assert.equal(message.headers['spillway-request-id'], 'r1');
    assert.deepEqual(headers, { 'spillway-request-id': 'r1' }, "the caller's headers are not changed");
    assert.equal(active?.traceId, traceId);
    assert.equal(active?.spanId, spanId);
    assert.equal(active?.isRemote, true);
  });

  it('adds nothing when no span is active, and the handler runs with no span', async () => {
    const { message, active } = await roundTrip('untraced', (h) => bus.produce('untraced', [{ key: 'r2', value: 'v', headers: h }]), { a: '1' });
    assert.deepEqual(message.headers, { a: '1' });
    assert.equal(active, undefined);
  });
});
