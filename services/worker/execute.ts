// Executes one request envelope: skip if already answered, claim it, call the provider
// (streaming deltas live), record the result in Redis, then in Kafka. The offset is committed
// by the consumer only after this returns, so a crash anywhere here means a redelivery.
import { resolvePolicy } from '#libs/routing/policy-schema.ts';
import { runAttempts } from './attempts.ts';
import type { HealthCache } from './health-cache.ts';
import { StreamRelay } from './stream-relay.ts';
import { park, parkUntil } from './parking.ts';
import { requestEnvelopeSchema, type Attempt, type LiveEvent, type RequestEnvelope, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { failureResponse, type FailureResponse } from '#libs/routing/failure-response.ts';
import type { BusMessage } from '#libs/bus/bus.ts';
import { deadLetter } from '#libs/bus/dead-letter.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { envelopeVersion } from '#libs/contracts/envelope.ts';
import { requestOutcome } from '#libs/telemetry/request-outcome.ts';
import { failSpan, recordingSpan, traceConsume, traceProduce } from '#libs/telemetry/tracing.ts';
import { groupIds } from '#libs/bus/topics.ts';
import { budgetRefusal, usageEventOf } from './usage.ts';

export interface WorkerContext extends Runtime {
  workerId: string;
  health: HealthCache;
  /**
   * Requests this worker holds the claim of, so it can take them back after Redis lost them,
   * each with the controller that cancels it when its client asks.
   */
  claims: Map<string, AbortController>;
}

const claimPollMs = 250;

/** Handles one request message in a `process` span, continuing the trace its headers carry. */
export function handleMessage(ctx: WorkerContext, message: BusMessage): Promise<void> {
  return traceConsume(message, undefined, async (span) => {
    let envelope: RequestEnvelope;
    try {
      envelope = requestEnvelopeSchema.parse(JSON.parse(message.value.toString('utf8')));
    } catch (err) {
      failSpan(span, 'invalid_envelope');
      await rejectMessage(ctx, message, err);
      return;
    }
    if (span.isRecording()) {
      const groups = groupIds(ctx.config.prefix);
      span.setAttributes({
        'messaging.consumer.group.name': message.topic === ctx.topics.batch ? groups.batchWorker : groups.worker,
        'spillway.priority': envelope.priority,
        'gen_ai.operation.name': envelope.operation,
        'gen_ai.request.model': envelope.route.model,
      });
    }
    await run(ctx, envelope, message);
  });
}

async function run(ctx: WorkerContext, envelope: RequestEnvelope, message: BusMessage): Promise<void> {
  const log = ctx.logger.child({ requestId: envelope.id });
  let history: LiveEvent[] = [];
  let cancelledBefore = false;
  for (;;) {
    const { result: existing, claimed, previous, cancelled } = await ctx.store.begin(envelope.id, ctx.workerId, ctx.config.worker.claimLeaseMs, { batchId: envelope.batch?.id, owner: envelope.owner });
    cancelledBefore = cancelled;
    if (existing) {
      // A redelivery after the result was stored: make sure Kafka has it too, and tell any waiter.
      log.info('request already answered; re-publishing its result');
      await publishResult(ctx, envelope, existing, { replay: false, seq: 0 });
      return;
    }
    if (claimed && previous === 'running' && envelope.reply.mode === 'stream') {
      // An earlier execution died mid-stream: its tokens may have reached the client already.
      history = await ctx.store.readEvents(envelope.id, 0);
      if (await finishedOrRefused(ctx, envelope, history)) {
        await ctx.store.releaseClaim(envelope.id, ctx.workerId).catch(() => undefined);
        return;
      }
    }
    if (claimed) break;
    // Another worker holds a live claim: wait for its answer rather than pay for a second one.
    log.info('request is claimed by another worker; waiting for its result');
    await new Promise((resolve) => setTimeout(resolve, claimPollMs));
  }

  const cancel = new AbortController();
  // Cancelled while it waited in the queue (itself, or its batch): its client asked not to pay for it.
  if (cancelledBefore) cancel.abort(new Error('cancelled before it started'));
  ctx.claims.set(envelope.id, cancel);
  if (envelope.idempotencyKey) {
    // Ingest marks the key accepted after Kafka's acknowledgement; if it died before that write,
    // the retry would meet a 'pending' key and, once it expired, start a second request.
    ctx.store.acceptIdempotencyKey(envelope.idempotencyKey, envelope.id, ctx.config.idempotency.windowSeconds).catch((err: unknown) => log.warn({ err }, 'could not mark the Idempotency-Key accepted'));
  }
  const renew = setInterval(() => {
    ctx.store.renewClaim(envelope.id, ctx.workerId, ctx.config.worker.claimLeaseMs).catch((err: unknown) => log.warn({ err }, 'claim renewal failed'));
  }, Math.max(1_000, Math.floor(ctx.config.worker.claimLeaseMs / 3)));
  let answered = false;
  try {
    const { result, deltas } = await execute(ctx, envelope, history, cancel.signal);
    const notBefore = parkUntil(envelope, result, Date.now(), ctx.config.worker);
    if (notBefore !== undefined) {
      // Parked, not answered: the claim is released below, and the request runs again when due.
      await park(ctx, message, envelope, notBefore);
      return;
    }
    await publishResult(ctx, envelope, result, { replay: envelope.reply.mode !== 'sync', seq: deltas + 1 });
    answered = true;
    countFinished(ctx, result);
    traceFinished(result);
    log.info({ status: result.status, httpStatus: result.httpStatus, provider: result.provider, model: result.model, attempts: result.attempts.length }, 'request completed');
  } finally {
    clearInterval(renew);
    ctx.claims.delete(envelope.id);
    // Once the result is stored, the result check answers any redelivery and the claim may just
    // expire; it is released early only when this worker gives up without an answer.
    if (!answered) await ctx.store.releaseClaim(envelope.id, ctx.workerId).catch(() => undefined);
  }
}

/** Stores the result and tells the waiter (Redis), then appends it to the durable record (Kafka). */
async function publishResult(ctx: WorkerContext, envelope: RequestEnvelope, answer: ResultEnvelope, opts: { replay: boolean; seq: number }): Promise<void> {
  // Every result leaves through here, so this is where the request's webhook, batch and owner join it.
  const result: ResultEnvelope = {
    ...answer,
    ...(envelope.reply.webhook ? { webhook: envelope.reply.webhook } : {}),
    ...(envelope.batch ? { batch: envelope.batch } : {}),
    ...(envelope.owner !== undefined ? { owner: envelope.owner } : {}),
  };
  const event: LiveEvent = { id: envelope.id, seq: opts.seq, type: result.status === 'succeeded' ? 'done' : 'error', data: result };
  await ctx.store.finish(result, event, { replay: opts.replay, replyTo: envelope.reply.to });
  // Its usage goes beside it (again on a redelivery: counting is once per request id).
  const usage = usageEventOf(ctx, envelope, result);
  await Promise.all([
    traceProduce(ctx.topics.results, envelope.id, () =>
      ctx.bus.produce(ctx.topics.results, [{ key: envelope.id, value: JSON.stringify(result), headers: { 'spillway-request-id': envelope.id } }]),
    ),
    usage ? ctx.bus.produce(ctx.topics.usage, [{ key: envelope.id, value: JSON.stringify(usage), headers: { 'spillway-request-id': envelope.id } }]) : undefined,
  ]);
}

/** Says on the request's span how it ended; its attempts have spans of their own. */
function traceFinished(result: ResultEnvelope): void {
  const span = recordingSpan();
  if (!span) return;
  span.setAttributes({ 'spillway.attempts': result.attempts.length, 'spillway.status': result.status });
  if (result.status === 'failed') failSpan(span, result.error?.code ?? result.error?.type ?? 'failed', `HTTP ${result.httpStatus}`);
}

/**
 * A stream whose previous executor died: if its events already hold the whole answer, that is
 * the result; if the policy says a stream that has sent output must not continue, it ends with
 * an explicit error. Either way it is finished here (true). Otherwise (false) it runs again,
 * continuing from what the client already has.
 */
async function finishedOrRefused(ctx: WorkerContext, envelope: RequestEnvelope, history: LiveEvent[]): Promise<boolean> {
  if (envelope.operation !== 'chat') return false;
  const relay = new StreamRelay(ctx.store, envelope, history);
  const completion = relay.assembler.completion();
  const complete = completion.choices.length > 0 && completion.choices.every((c) => c.finish_reason);
  const policy = resolvePolicy(ctx.registry.chain({ model: envelope.route.model }).alias, ctx.registry.routingView());
  const refuse = !complete && relay.hasOutput() && (policy.midStream === 'error' || relay.hasToolCalls());
  ctx.logger.warn({ requestId: envelope.id, events: history.length, complete, continuing: !complete && !refuse }, 'redelivered stream whose earlier execution died');
  if (!complete && !refuse) return false;
  const base = { v: envelopeVersion, id: envelope.id, acceptedAt: envelope.acceptedAt } as const;
  const result: ResultEnvelope = complete
    ? { ...base, status: 'succeeded', httpStatus: 200, response: completion, usage: relay.assembler.getUsage(), attempts: [], completedAt: Date.now() }
    : failed(base, [], failureResponse('internal', undefined, 'the worker streaming this answer stopped before it finished'));
  await publishResult(ctx, envelope, result, { replay: true, seq: relay.count() + 1 });
  countFinished(ctx, result);
  return true;
}

/**
 * Counts a request this worker finished, once: not a parked one (it runs again), and not a
 * redelivery whose result already existed (re-published, counted by whoever produced it).
 */
function countFinished(ctx: WorkerContext, result: ResultEnvelope): void {
  ctx.metrics.requests.inc({ provider: result.provider ?? 'none', model: result.model ?? 'none', outcome: requestOutcome(result) });
}

async function execute(ctx: WorkerContext, envelope: RequestEnvelope, history: LiveEvent[], cancelled: AbortSignal): Promise<{ result: ResultEnvelope; deltas: number }> {
  const base = { v: envelopeVersion, id: envelope.id, acceptedAt: envelope.acceptedAt } as const;
  if (Date.now() >= envelope.deadline) return { result: failed(base, [], failureResponse('deadline_exceeded')), deltas: 0 };
  if (cancelled.aborted) return { result: failed(base, [], failureResponse('cancelled')), deltas: 0 };
  if (ctx.registry.chain({ model: envelope.route.model }).main.length === 0) {
    const response: FailureResponse = {
      httpStatus: 404,
      error: { message: `The model \`${envelope.route.model}\` does not exist or no configured provider serves it.`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
      headers: {},
    };
    return { result: failed(base, [], response), deltas: 0 };
  }
  const overBudget = await budgetRefusal(ctx, envelope);
  if (overBudget) return { result: failed(base, [], overBudget), deltas: 0 };
  const relay = envelope.reply.mode === 'stream' && envelope.operation === 'chat' ? new StreamRelay(ctx.store, envelope, history) : undefined;
  const result = await runAttempts(ctx, envelope, relay, cancelled);
  await relay?.flush();
  return { result, deltas: relay?.count() ?? 0 };
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

async function rejectMessage(ctx: WorkerContext, message: BusMessage, err: unknown): Promise<void> {
  const reason = err instanceof Error ? err.message : String(err);
  ctx.metrics.deadLetters.inc({ reason: err instanceof SyntaxError ? 'invalid_json' : 'invalid_envelope' });
  ctx.logger.error({ topic: message.topic, partition: message.partition, offset: message.offset, reason: reason.slice(0, 500) }, 'message is not a valid request envelope; sent to the dead-letter topic');
  await deadLetter(ctx.bus, ctx.topics.dlq, message, reason);
}
