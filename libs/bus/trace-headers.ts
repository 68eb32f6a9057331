// Every produce carries the producer's trace context in the message headers (W3C traceparent /
// tracestate), on every bus alike; consumers continue from it (retry-handler.ts). The envelope
// itself is not touched. Nothing is copied when there is no trace context (tracing off).
import { context, trace } from '@opentelemetry/api';
import { injectTraceHeaders } from '#libs/telemetry/tracing.ts';
import type { OutgoingMessage } from './bus.ts';

export function withTraceHeaders(messages: OutgoingMessage[]): OutgoingMessage[] {
  const ctx = context.active();
  if (!trace.getSpanContext(ctx)) return messages;
  return messages.map((m) => ({ ...m, headers: injectTraceHeaders(m.headers, ctx) }));
}
