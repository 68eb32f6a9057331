// The messages that cross Kafka and Redis: request envelope, result envelope, live event.
// Versioned; the JSON Schema shipped for Kafka-native producers is generated from these.
import { z } from 'zod';
import { chatRequestSchema, usageSchema } from './chat.ts';
import { embeddingsRequestSchema } from './embeddings.ts';
import { openAIErrorSchema } from './openai-error.ts';
import { batchRefSchema } from './batch.ts';
import { safeJson } from './safe-json.ts';

export const envelopeVersion = 1;

export const replyModeSchema = z.enum(['sync', 'stream', 'async']);
export type ReplyMode = z.infer<typeof replyModeSchema>;

/** Where the results service POSTs a request's outcome (signed, Standard Webhooks); async requests only. */
export const webhookSchema = z.object({
  // The pattern states the protocol rule in the generated JSON Schema, which `format: uri` alone does not.
  url: z
    .url({ protocol: /^https?$/, error: 'must be an absolute http or https URL' })
    .max(2048)
    .meta({ pattern: '^[hH][tT][tT][pP][sS]?://' }),
});
export type Webhook = z.infer<typeof webhookSchema>;

const envelopeFields = {
  v: z.literal(envelopeVersion),
  id: z.string().min(1),
  tenant: z.string().default('default'),
  /** The client key id that sent it: only that key may read its answer ('anonymous' when the API is open). */
  owner: z.string().min(1).optional(),
  route: z.object({
    model: z.string().min(1),
    /** Replace the alias's fallbacks for this request. */
    fallbacks: z.array(z.string()).default([]),
    /** Only the primary target group: no fallback of any kind. */
    noFallback: z.boolean().default(false),
  }),
  reply: z.object({
    mode: replyModeSchema,
    /** The ingest instance relaying the answer live, if any; events are addressed to it directly. */
    to: z.string().optional(),
    webhook: webhookSchema.optional(),
  }),
  acceptedAt: z.number().int(),
  deadline: z.number().int(),
  priority: z.enum(['interactive', 'batch']).default('interactive'),
  idempotencyKey: z.string().optional(),
  traceparent: z.string().optional(),
  /** The batch (POST /v1/batches) and input line this request came from. */
  batch: batchRefSchema.optional(),
};

/** What a request asks for, and its body in the canonical (OpenAI) shape of that operation. */
export const requestEnvelopeSchema = z.discriminatedUnion('operation', [
  z.object({ ...envelopeFields, operation: z.literal('chat'), body: chatRequestSchema }),
  z.object({ ...envelopeFields, operation: z.literal('embeddings'), body: embeddingsRequestSchema }),
]);
export type RequestEnvelope = z.infer<typeof requestEnvelopeSchema>;
export type ChatEnvelope = Extract<RequestEnvelope, { operation: 'chat' }>;

export const failureClassSchema = z.enum([
  'rate_limited',
  'overloaded',
  'server',
  'network',
  'timeout',
  'auth',
  'client',
  'context_length',
  'content_filter',
  'cancelled',
  'deadline_exceeded',
  'internal',
]);
export type FailureClass = z.infer<typeof failureClassSchema>;

export const attemptSchema = z.object({
  provider: z.string(),
  model: z.string(),
  keyId: z.string().optional(),
  startedAt: z.number(),
  latencyMs: z.number(),
  status: z.number().optional(),
  failure: failureClassSchema.optional(),
  message: z.string().optional(),
});
export type Attempt = z.infer<typeof attemptSchema>;

export const resultEnvelopeSchema = z.object({
  v: z.literal(envelopeVersion),
  id: z.string(),
  status: z.enum(['succeeded', 'failed']),
  /** The HTTP status a synchronous client receives. */
  httpStatus: z.number().int(),
  response: z.record(z.string(), z.unknown()).optional(),
  error: openAIErrorSchema.optional(),
  errorHeaders: z.record(z.string(), z.string()).optional(),
  usage: usageSchema.optional(),
  provider: z.string().optional(),
  model: z.string().optional(),
  attempts: z.array(attemptSchema),
  acceptedAt: z.number().int(),
  completedAt: z.number().int(),
  /** Copied from the request, so a consumer of the results topic can deliver it. */
  webhook: webhookSchema.optional(),
  /** Copied from the request, so the batch it belongs to can record it. */
  batch: batchRefSchema.optional(),
  /** Copied from the request: the client key id that may read it. */
  owner: z.string().min(1).optional(),
});
export type ResultEnvelope = z.infer<typeof resultEnvelopeSchema>;

/** A results-topic message's envelope, or undefined when it is not one (the results consumer dead-letters those). */
export function readResult(value: Buffer): ResultEnvelope | undefined {
  return resultEnvelopeSchema.safeParse(safeJson(value.toString('utf8'))).data;
}

/**
 * Who produced a stream's deltas: the provider and model, and how many attempts the request had
 * started by then. Set on the first delta published for each target, so ingest can name, in the
 * response headers it holds until that first delta, the target that produced the first token.
 */
export const answeringSchema = z.object({ provider: z.string(), model: z.string(), attempts: z.number().int().min(1) });
export type Answering = z.infer<typeof answeringSchema>;

export const liveEventSchema = z.discriminatedUnion('type', [
  z.object({ id: z.string(), seq: z.number().int(), type: z.literal('delta'), data: z.record(z.string(), z.unknown()), answering: answeringSchema.optional() }),
  z.object({ id: z.string(), seq: z.number().int(), type: z.enum(['done', 'error']), data: resultEnvelopeSchema }),
]);
export type LiveEvent = z.infer<typeof liveEventSchema>;
