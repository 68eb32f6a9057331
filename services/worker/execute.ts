// Executes one request envelope: skip if already answered, claim it, call the provider
// (streaming deltas live), record the result in Redis, then in Kafka. The offset is committed
// by the consumer only after this returns, so a crash anywhere here means a redelivery.
import { chatChunkSchema, type ChatChunk } from '#libs/contracts/chat.ts';
import { requestEnvelopeSchema, type Attempt, type FailureClass, type LiveEvent, type RequestEnvelope, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { classify } from '#libs/routing/classify.ts';
import { failureResponse, type FailureResponse } from '#libs/routing/failure-response.ts';
import { StreamAssembler } from '#libs/providers/stream-assembler.ts';
import { UpstreamError } from '#libs/providers/provider.ts';
import type { BusMessage } from '#libs/bus/bus.ts';
import { deadLetter } from '#libs/bus/dead-letter.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { envelopeVersion } from '#libs/contracts/envelope.ts';

export interface WorkerContext extends Runtime {
  workerId: string;
}

const claimPollMs = 250;

export async function handleMessage(ctx: WorkerContext, message: BusMessage): Promise<void> {
  let envelope: RequestEnvelope;
  try {
    envelope = requestEnvelopeSchema.parse(JSON.parse(message.value.toString('utf8')));
  } catch (err) {
    await rejectMessage(ctx, message, err);
    return;
  }
  await run(ctx, envelope);
}

async function run(ctx: WorkerContext, envelope: RequestEnvelope): Promise<void> {
  const log = ctx.logger.child({ requestId: envelope.id });
  for (;;) {
    // Issued together, these share one Redis round trip.
    const [existing, claimed, state] = await Promise.all([
      ctx.store.getResult(envelope.id),
      ctx.store.claim(envelope.id, ctx.workerId, ctx.config.worker.claimLeaseMs),
      ctx.store.getState(envelope.id),
    ]);
    if (existing) {
      // A redelivery after the result was stored: make sure Kafka has it too, and tell any waiter.
      if (claimed) await ctx.store.releaseClaim(envelope.id, ctx.workerId);
      log.info('request already answered; re-publishing its result');
      await publishResult(ctx, envelope, existing, { replay: false, seq: 0 });
      return;
    }
    if (claimed && state === 'running' && envelope.reply.mode === 'stream') {
      // An earlier execution died mid-stream: its tokens may have reached the client already.
      try {
        await finishInterruptedStream(ctx, envelope);
      } finally {
        await ctx.store.releaseClaim(envelope.id, ctx.workerId).catch(() => undefined);
      }
      return;
    }
    if (claimed) break;
    // Another worker holds a live claim: wait for its answer rather than pay for a second one.
    log.info('request is claimed by another worker; waiting for its result');
    await new Promise((resolve) => setTimeout(resolve, claimPollMs));
  }

  const renew = setInterval(() => {
    ctx.store.renewClaim(envelope.id, ctx.workerId, ctx.config.worker.claimLeaseMs).catch((err: unknown) => log.warn({ err }, 'claim renewal failed'));
  }, Math.max(1_000, Math.floor(ctx.config.worker.claimLeaseMs / 3)));
  let answered = false;
  try {
    const { result, deltas } = await execute(ctx, envelope);
    await publishResult(ctx, envelope, result, { replay: envelope.reply.mode !== 'sync', seq: deltas + 1 });
    answered = true;
    log.info({ status: result.status, httpStatus: result.httpStatus, provider: result.provider, model: result.model, attempts: result.attempts.length }, 'request completed');
  } finally {
    clearInterval(renew);
    // Once the result is stored, the result check answers any redelivery and the claim may just
    // expire; it is released early only when this worker gives up without an answer.
    if (!answered) await ctx.store.releaseClaim(envelope.id, ctx.workerId).catch(() => undefined);
  }
}

/** Stores the result and tells the waiter (Redis), then appends it to the durable record (Kafka). */
async function publishResult(ctx: WorkerContext, envelope: RequestEnvelope, result: ResultEnvelope, opts: { replay: boolean; seq: number }): Promise<void> {
  const event: LiveEvent = { id: envelope.id, seq: opts.seq, type: result.status === 'succeeded' ? 'done' : 'error', data: result };
  await ctx.store.finish(result, event, { replay: opts.replay, replyTo: envelope.reply.to });
  await ctx.bus.produce(ctx.topics.results, [{ key: envelope.id, value: JSON.stringify(result), headers: { 'spillway-request-id': envelope.id } }]);
}

/**
 * Ends a stream whose previous executor died. If its events already hold the whole answer, that
 * answer is the result; otherwise the stream ends with an explicit error, never a silent cut.
 */
async function finishInterruptedStream(ctx: WorkerContext, envelope: RequestEnvelope): Promise<void> {
  const events = await ctx.store.readEvents(envelope.id, 0);
  const deltas = events.filter((e) => e.type === 'delta');
  const assembler = new StreamAssembler();
  for (const e of deltas) assembler.add(chatChunkSchema.parse(e.data));
  const base = { v: envelopeVersion, id: envelope.id, acceptedAt: envelope.acceptedAt } as const;
  const completion = assembler.completion();
  const complete = deltas.length > 0 && completion.choices.length > 0 && completion.choices.every((c) => c.finish_reason);
  const result: ResultEnvelope = complete
    ? { ...base, status: 'succeeded', httpStatus: 200, response: completion, usage: assembler.getUsage(), attempts: [], completedAt: Date.now() }
    : failed(base, [], failureResponse('internal', undefined, 'the worker streaming this answer stopped before it finished'));
  ctx.logger.warn({ requestId: envelope.id, deltas: deltas.length, complete }, 'redelivered stream whose earlier execution died; ending it');
  await publishResult(ctx, envelope, result, { replay: true, seq: (events.at(-1)?.seq ?? 0) + 1 });
}

async function execute(ctx: WorkerContext, envelope: RequestEnvelope): Promise<{ result: ResultEnvelope; deltas: number }> {
  let deltas = 0;
  const result = await attemptOnce(ctx, envelope, (n) => (deltas = n));
  return { result, deltas };
}

async function attemptOnce(ctx: WorkerContext, envelope: RequestEnvelope, onDeltas: (n: number) => void): Promise<ResultEnvelope> {
  const now = Date.now();
  const base = { v: envelopeVersion, id: envelope.id, acceptedAt: envelope.acceptedAt } as const;
  if (now >= envelope.deadline) {
    return failed(base, [], failureResponse('deadline_exceeded'));
  }
  const resolved = ctx.registry.resolve(envelope.route.model);
  if (!resolved) {
    return failed(base, [], {
      httpStatus: 404,
      error: { message: `The model \`${envelope.route.model}\` does not exist or no configured provider serves it.`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
      headers: {},
    });
  }
  const { adapter, model } = resolved;
  const signal = AbortSignal.timeout(envelope.deadline - now);
  const startedAt = Date.now();
  const labels = { provider: adapter.name, model };
  const attempt = (extra: Partial<Attempt>): Attempt => ({ provider: adapter.name, model, startedAt, latencyMs: Date.now() - startedAt, ...extra });
  void ctx.store.setState(envelope.id, 'running').catch(() => undefined);
  const relay = new DeltaRelay(ctx, envelope);

  try {
    if (envelope.reply.mode === 'stream') {
      const assembler = new StreamAssembler();
      const call = await adapter.stream(envelope.body, { signal, model });
      let first = true;
      for await (const chunk of call.chunks) {
        if (first) {
          ctx.metrics.upstreamTtft.observe(labels, (Date.now() - startedAt) / 1000);
          first = false;
        }
        assembler.add(chunk);
        relay.send(chunk);
      }
      await relay.flush();
      const usage = assembler.getUsage();
      recordSuccess(ctx, labels, startedAt, usage);
      return {
        ...base,
        status: 'succeeded',
        httpStatus: 200,
        response: assembler.completion(),
        usage,
        provider: adapter.name,
        model,
        attempts: [attempt({ keyId: call.keyId, status: 200 })],
        completedAt: Date.now(),
      };
    }
    const { value, keyId } = await adapter.complete(envelope.body, { signal, model });
    ctx.metrics.upstreamTtft.observe(labels, (Date.now() - startedAt) / 1000);
    const usage = value.usage ?? undefined;
    recordSuccess(ctx, labels, startedAt, usage);
    return { ...base, status: 'succeeded', httpStatus: 200, response: value, usage, provider: adapter.name, model, attempts: [attempt({ keyId, status: 200 })], completedAt: Date.now() };
  } catch (err) {
    await relay.flush().catch(() => undefined);
    const upstream = err instanceof UpstreamError ? err : new UpstreamError((err as Error).message, { phase: 'response' });
    const failure: FailureClass = signal.aborted ? 'deadline_exceeded' : classify(upstream);
    ctx.metrics.attempts.inc({ ...labels, failure });
    ctx.metrics.requests.inc({ ...labels, outcome: failure });
    ctx.logger.warn({ requestId: envelope.id, provider: adapter.name, model, failure, status: upstream.status, code: upstream.code, phase: upstream.phase }, 'upstream attempt failed');
    const response = failureResponse(failure, upstream, adapter.name);
    return { ...failed(base, [attempt({ keyId: upstream.keyId, status: upstream.status, failure, message: upstream.message })], response), provider: adapter.name, model };
  } finally {
    onDeltas(relay.count());
  }
}

function recordSuccess(ctx: WorkerContext, labels: { provider: string; model: string }, startedAt: number, usage: { prompt_tokens: number; completion_tokens: number } | undefined): void {
  ctx.metrics.upstreamLatency.observe(labels, (Date.now() - startedAt) / 1000);
  ctx.metrics.attempts.inc({ ...labels, failure: 'none' });
  ctx.metrics.requests.inc({ ...labels, outcome: 'success' });
  if (usage) {
    ctx.metrics.tokens.inc({ ...labels, kind: 'prompt' }, usage.prompt_tokens);
    ctx.metrics.tokens.inc({ ...labels, kind: 'completion' }, usage.completion_tokens);
  }
}

function failed(base: { v: 1; id: string; acceptedAt: number }, attempts: Attempt[], response: FailureResponse): ResultEnvelope {
  return {
    ...base,
    status: 'failed',
    httpStatus: response.httpStatus,
    error: response.error,
    ...(Object.keys(response.headers).length > 0 ? { errorHeaders: response.headers } : {}),
    attempts,
    completedAt: Date.now(),
  };
}

/**
 * Publishes stream chunks as live events, in order, without waiting on each round trip.
 * Chunks are shaped as the client asked: usage only when it asked for include_usage.
 */
class DeltaRelay {
  private seq = 0;
  private readonly pending: Promise<void>[] = [];
  private readonly ctx: WorkerContext;
  private readonly envelope: RequestEnvelope;
  private readonly includeUsage: boolean;

  constructor(ctx: WorkerContext, envelope: RequestEnvelope) {
    this.ctx = ctx;
    this.envelope = envelope;
    this.includeUsage = envelope.body.stream_options?.include_usage === true;
  }

  send(chunk: ChatChunk): void {
    let data: Record<string, unknown> = chunk;
    if (!this.includeUsage) {
      if (chunk.choices.length === 0) return;
      const { usage: _usage, ...rest } = chunk;
      data = rest;
    }
    const event: LiveEvent = { id: this.envelope.id, seq: ++this.seq, type: 'delta', data };
    this.pending.push(this.ctx.store.publish(event, { replay: true, replyTo: this.envelope.reply.to }));
  }

  count(): number {
    return this.seq;
  }

  async flush(): Promise<void> {
    await Promise.all(this.pending);
  }
}

async function rejectMessage(ctx: WorkerContext, message: BusMessage, err: unknown): Promise<void> {
  const reason = err instanceof Error ? err.message : String(err);
  ctx.metrics.deadLetters.inc({ reason: err instanceof SyntaxError ? 'invalid_json' : 'invalid_envelope' });
  ctx.logger.error({ topic: message.topic, partition: message.partition, offset: message.offset, reason: reason.slice(0, 500) }, 'message is not a valid request envelope; sent to the dead-letter topic');
  await deadLetter(ctx.bus, ctx.topics.dlq, message, reason);
}
