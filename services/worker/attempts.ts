// Runs one request's attempts: asks routing (pure) for the first target and, after each failure,
// what next — retry, rotate the key, fall back, or fail — and carries the decision out: waits,
// calls the provider, shares breaker and cooldown changes, counts and logs every failover. A
// stream that fails after tokens reached the client continues on the next target from where it
// stopped: the text so far goes to the fallback as the assistant's partial answer.
import { setTimeout as sleep } from 'node:timers/promises';
import { carriesAnswer, type ChatChunk, type ChatCompletion, type ChatRequest } from '#libs/contracts/chat.ts';
import { envelopeVersion, type Answering, type Attempt, type FailureClass, type RequestEnvelope, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { classify } from '#libs/routing/classify.ts';
import { decideNext, firstAttempt, hedgeTarget, type AttemptKind, type AttemptRecord, type Decision, type FirstDecision, type RoutingContext } from '#libs/routing/decide.ts';
import { failureResponse } from '#libs/routing/failure-response.ts';
import { keyHealthId } from '#libs/routing/key-pool.ts';
import { resolvePolicy, type ResolvedPolicy } from '#libs/routing/policy-schema.ts';
import { waitHint } from '#libs/routing/retry-after.ts';
import type { Chain, Target } from '#libs/routing/chain.ts';
import { UpstreamError, type CallOptions, type CallResult, type ProviderAdapter } from '#libs/providers/provider.ts';
import { encodeEmbeddings, type EmbeddingsRequest, type EmbeddingsResponse } from '#libs/contracts/embeddings.ts';
import type { Usage } from '#libs/contracts/chat.ts';
import { withSpan } from '#libs/telemetry/tracing.ts';
import { describeAttempt, endAttemptSpan, startAttemptSpan } from '#libs/telemetry/tracing-genai.ts';
import type { WorkerContext } from './execute.ts';
import { HedgeRace, LostRaceError } from './hedge-race.ts';
import { StreamClock } from './stream-clock.ts';
import type { StreamRelay } from './stream-relay.ts';

type Step = Exclude<Decision | FirstDecision, { kind: 'fail' }>;

interface Success {
  ok: true;
  response: ChatCompletion | EmbeddingsResponse;
  usage: Usage | undefined;
}

interface Failure {
  ok: false;
  error: UpstreamError;
  failure: FailureClass;
}

/** `cancelled`: aborted when the client asked for the request to be cancelled; no attempt starts after it. */
export async function runAttempts(ctx: WorkerContext, envelope: RequestEnvelope, relay: StreamRelay | undefined, cancelled: AbortSignal): Promise<ResultEnvelope> {
  const log = ctx.logger.child({ requestId: envelope.id });
  const chain = ctx.registry.chain({ model: envelope.route.model, fallbacks: envelope.route.fallbacks, noFallback: envelope.route.noFallback });
  const view = ctx.registry.routingView();
  const policy = resolvePolicy(chain.alias, view);
  const routing = (): RoutingContext => ({ chain, providers: view.providers, policy, health: ctx.health.view(), now: Date.now(), deadline: envelope.deadline, random: Math.random });
  const records: AttemptRecord[] = [];
  const attempts: Attempt[] = [];
  const calls: CallCount = { started: 0 };
  let lastError: UpstreamError | undefined;
  let decision: Decision | FirstDecision = firstAttempt(routing());
  explainFirst(ctx, log, decision);

  for (;;) {
    if (cancelled.aborted) return failedResult(envelope, { kind: 'fail', status: 499, code: 'cancelled', failure: 'cancelled', attemptsSummary: records, skipped: [] }, attempts, lastError);
    if ('cooldown' in decision && decision.cooldown) ctx.health.applyCooldown(decision.cooldown);
    if (decision.kind === 'fail') return failedResult(envelope, decision, attempts, lastError);
    let step: Step = decision;
    let kind: AttemptKind = step.kind === 'attempt' ? 'first' : step.kind;
    if (step.kind === 'retry' && step.delayMs > 0 && parksInsteadOfWaiting(envelope, step, ctx.config.worker.minParkMs)) {
      // A batch request does not hold a worker slot through a rate limit: it is parked instead (parking.ts).
      const limited = step.failure === 'rate_limited';
      return failedResult(envelope, { kind: 'fail', status: limited ? 429 : 503, code: limited ? 'rate_limit_exceeded' : 'upstream_overloaded', failure: step.failure, retryAfterMs: step.delayMs, attemptsSummary: records, skipped: [] }, attempts, lastError);
    }
    if (step.kind === 'retry' && step.delayMs > 0) {
      log.info({ target: step.target.id, delayMs: step.delayMs, failure: step.failure }, 'retrying after a wait');
      const waited = await sleepUntilDeadline(step.delayMs, envelope.deadline);
      if (!waited) return failedResult(envelope, { kind: 'fail', status: 504, code: 'deadline_exceeded', failure: 'deadline_exceeded', attemptsSummary: records, skipped: [] }, attempts, lastError);
    }
    ctx.health.claimProbes(step.target.id, keyHealthOf(step), step.probe, policy.breaker, Date.now());

    const startedAt = Date.now();
    // Only the first attempt of an interactive request hedges: batch work is not latency sensitive,
    // and a hedge may pay for the same answer twice.
    const hedge: { afterMs: number } | undefined = step.kind === 'attempt' && envelope.priority === 'interactive' && policy.hedge ? policy.hedge : undefined;
    const settled: Settled[] = hedge
      ? await hedged(ctx, envelope, step, chain, policy, relay, cancelled, calls, hedge.afterMs, () => ({ ...routing(), attempts: [...records, { target: step.target, keyId: step.keyId, lane: step.lane, kind: 'first', at: Date.now() }] }))
      : [{ step, outcome: await callOnce(ctx, envelope, step.target, step.keyId, fallbackIndex(chain, step), policy, relay, cancelled, calls), startedAt }];
    // Hedge losers are recorded as cancelled attempts; the call that decided goes on below.
    for (const loser of settled.slice(0, -1)) {
      const lost = loser.outcome.ok ? undefined : loser.outcome;
      const cls: FailureClass = lost?.failure ?? 'cancelled';
      if (lost && cls !== 'cancelled') ctx.health.record(loser.step.target.id, keyHealthOf(loser.step), cls, loser.step.probe, policy.breaker, Date.now());
      const message = lost && cls !== 'cancelled' ? safeMessage(lost.error) : 'another target answered first (hedged request)';
      attempts.push({ provider: loser.step.target.provider, model: loser.step.target.model, keyId: loser.step.keyId, startedAt: loser.startedAt, latencyMs: Date.now() - loser.startedAt, failure: cls, message });
    }
    const decided: Settled = settled[settled.length - 1];
    if (decided.step !== step) {
      step = decided.step;
      kind = 'hedge';
    }
    const outcome = decided.outcome;
    const keyHealth = keyHealthOf(step);
    const latencyMs = Date.now() - decided.startedAt;
    const labels = { provider: step.target.provider, model: step.target.model };
    ctx.metrics.upstreamLatency.observe(labels, latencyMs / 1000);

    if (outcome.ok) {
      ctx.health.record(step.target.id, keyHealth, 'success', step.probe, policy.breaker, Date.now());
      ctx.metrics.attempts.inc({ ...labels, failure: 'none' });
      if (outcome.usage) {
        ctx.metrics.tokens.inc({ ...labels, kind: 'prompt' }, outcome.usage.prompt_tokens);
        ctx.metrics.tokens.inc({ ...labels, kind: 'completion' }, outcome.usage.completion_tokens);
      }
      attempts.push({ provider: step.target.provider, model: step.target.model, keyId: step.keyId, startedAt: decided.startedAt, latencyMs, status: 200 });
      return {
        v: envelopeVersion,
        id: envelope.id,
        status: 'succeeded',
        httpStatus: 200,
        response: outcome.response,
        usage: outcome.usage,
        provider: step.target.provider,
        model: step.target.model,
        attempts,
        acceptedAt: envelope.acceptedAt,
        completedAt: Date.now(),
      };
    }

    lastError = outcome.error;
    const now = Date.now();
    ctx.metrics.attempts.inc({ ...labels, failure: outcome.failure });
    ctx.health.record(step.target.id, keyHealth, outcome.failure, step.probe, policy.breaker, now);
    attempts.push({ provider: step.target.provider, model: step.target.model, keyId: step.keyId, startedAt: decided.startedAt, latencyMs, status: outcome.error.status, failure: outcome.failure, message: safeMessage(outcome.error) });
    records.push({
      target: step.target,
      keyId: step.keyId,
      lane: step.lane,
      kind,
      failure: outcome.failure,
      waitMs: waitHint(outcome.error.headers, outcome.error.body, now),
      streamed: relay?.hasOutput() ?? false,
      at: now,
    });
    decision = decideNext({ ...routing(), attempts: records });
    if (decision.kind !== 'fail' && decision.kind !== 'retry' && decision.continuation && relay?.hasToolCalls()) {
      decision = { kind: 'fail', status: 502, code: 'stream_interrupted', failure: outcome.failure, attemptsSummary: records, skipped: [] };
    }
    explain(ctx, log, step.target, outcome, decision);
  }
}

function parksInsteadOfWaiting(envelope: RequestEnvelope, step: Extract<Step, { kind: 'retry' }>, minParkMs: number): boolean {
  return envelope.priority === 'batch' && step.delayMs >= minParkMs && (step.failure === 'rate_limited' || step.failure === 'overloaded');
}

/** Calls started for the request so far, hedges included: the attempt count a stream's first token names. */
interface CallCount {
  started: number;
}

/** A hedged call: it answers only if it wins the race. */
interface Contender {
  race: HedgeRace;
  id: symbol;
  signal: AbortSignal;
}

/** Where a step's target stands in its lane of the chain: 0 for the primary group, n for the n-th fallback. */
function fallbackIndex(chain: Chain, step: Step): number {
  return Math.max(0, chain[step.lane].findIndex((s) => s.targets.some((t) => t.target.id === step.target.id)));
}

/** One call to one target, in its own span (GenAI conventions, tracing-genai.ts). */
async function callOnce(
  ctx: WorkerContext,
  envelope: RequestEnvelope,
  target: Target,
  keyId: string | undefined,
  fallback: number,
  policy: ResolvedPolicy,
  relay: StreamRelay | undefined,
  cancelled: AbortSignal,
  calls: CallCount,
  contender?: Contender,
): Promise<Success | Failure> {
  calls.started++;
  const span = startAttemptSpan(envelope.operation, target.model);
  if (span.isRecording()) {
    describeAttempt(span, {
      requestId: envelope.id,
      operation: envelope.operation,
      provider: target.provider,
      providerType: ctx.registry.get(target.provider)?.type,
      providerConfig: ctx.config.providers[target.provider],
      model: target.model,
      attempt: calls.started,
      fallbackIndex: fallback,
      priority: envelope.priority,
    });
  }
  const outcome = await withSpan(span, () => callUpstream(ctx, envelope, target, keyId, policy, relay, cancelled, calls, contender));
  endAttemptSpan(span, outcome);
  return outcome;
}

/** One call to one target, streaming through the relay or whole. */
async function callUpstream(
  ctx: WorkerContext,
  envelope: RequestEnvelope,
  target: Target,
  keyId: string | undefined,
  policy: ResolvedPolicy,
  relay: StreamRelay | undefined,
  cancelled: AbortSignal,
  calls: CallCount,
  contender: Contender | undefined,
): Promise<Success | Failure> {
  const adapter = ctx.registry.get(target.provider);
  if (!adapter) return failure(new UpstreamError(`no adapter for provider ${target.provider}`, { phase: 'connect' }), 'internal');
  const secret = keyId ? ctx.registry.secret(target.provider, keyId) : undefined;
  const deadline = AbortSignal.timeout(Math.max(1, envelope.deadline - Date.now()));
  const total = AbortSignal.timeout(policy.timeouts.totalMs);
  // A stream's wait for its first token, and its silences after, are bounded by the clock.
  const clock = relay ? new StreamClock(policy.timeouts) : undefined;
  const signal = AbortSignal.any([deadline, total, cancelled, ...(contender ? [contender.signal] : []), ...(clock ? [clock.signal] : [])]);
  const timeouts = clock ? { ...policy.timeouts, idleMs: Math.max(policy.timeouts.idleMs, policy.timeouts.firstByteMs) } : policy.timeouts;
  const options = { signal, model: target.model, key: keyId && secret ? { id: keyId, secret } : undefined, timeouts };
  const labels = { provider: target.provider, model: target.model };
  const startedAt = Date.now();
  try {
    if (envelope.operation === 'embeddings') {
      const { value } = await embed(adapter, target, envelope.body, options);
      if (contender && !contender.race.claim(contender.id)) throw new LostRaceError();
      ctx.metrics.upstreamTtft.observe(labels, (Date.now() - startedAt) / 1000);
      const usage = value.usage ? { prompt_tokens: value.usage.prompt_tokens, completion_tokens: 0, total_tokens: value.usage.total_tokens } : undefined;
      return { ok: true, response: value, usage };
    }
    if (relay && clock) return await streamOnce(ctx, adapter, continuationBody(envelope.body, relay), options, relay, clock, { ...labels, calls }, startedAt, contender);
    const { value } = await adapter.complete(envelope.body, options);
    if (contender && !contender.race.claim(contender.id)) throw new LostRaceError();
    ctx.metrics.upstreamTtft.observe(labels, (Date.now() - startedAt) / 1000);
    return { ok: true, response: value, usage: value.usage ?? undefined };
  } catch (err) {
    const upstream = err instanceof UpstreamError ? err : new UpstreamError((err as Error).message, { phase: 'response', keyId });
    if (contender?.race.lost(contender.id)) return failure(new UpstreamError(new LostRaceError().message, { phase: 'response', keyId }), 'cancelled');
    if (deadline.aborted) return failure(upstream, 'deadline_exceeded');
    if (total.aborted) return failure(upstream, 'timeout');
    if (clock?.expired) return failure(new UpstreamError(clock.expired.message, { code: clock.expired.code, phase: clock.expired.phase, keyId }), 'timeout');
    return failure(upstream, classify(upstream));
  } finally {
    clock?.stop();
  }
}

/** Embeddings in the encoding the client asked for, whatever the provider answered in. */
async function embed(adapter: ProviderAdapter, target: Target, body: EmbeddingsRequest, options: CallOptions): Promise<CallResult<EmbeddingsResponse>> {
  if (!adapter.embed) {
    const message = `The provider '${target.provider}' does not offer embeddings.`;
    throw new UpstreamError(message, { status: 400, phase: 'response', body: { error: { message, type: 'invalid_request_error', param: 'model', code: 'model_not_supported' } } });
  }
  const result = await adapter.embed(body, options);
  return { ...result, value: encodeEmbeddings(result.value, body.encoding_format) };
}

async function streamOnce(
  ctx: WorkerContext,
  adapter: ProviderAdapter,
  body: ChatRequest,
  options: Parameters<ProviderAdapter['stream']>[1],
  relay: StreamRelay,
  clock: StreamClock,
  target: { provider: string; model: string; calls: CallCount },
  startedAt: number,
  contender: Contender | undefined,
): Promise<Success> {
  const labels = { provider: target.provider, model: target.model };
  const call = await adapter.stream(body, options);
  let first = true;
  // Read when a chunk goes out: a hedge started meanwhile counts among the attempts.
  const answering = (): Answering => ({ provider: target.provider, model: target.model, attempts: target.calls.started });
  // A hedged contender holds its chunks until its first token decides the race.
  let held: ChatChunk[] | undefined = contender ? [] : undefined;
  try {
    for await (const chunk of call.chunks) {
      clock.chunk(chunk);
      if (first) {
        ctx.metrics.upstreamTtft.observe(labels, (Date.now() - startedAt) / 1000);
        first = false;
      }
      if (held && contender) {
        held.push(chunk);
        if (!carriesAnswer(chunk)) continue;
        if (!contender.race.claim(contender.id)) throw new LostRaceError();
        for (const c of held) relay.send(c, answering());
        held = undefined;
        continue;
      }
      relay.send(chunk, answering());
    }
    if (held && contender && !contender.race.claim(contender.id)) throw new LostRaceError();
    for (const c of held ?? []) relay.send(c, answering());
  } finally {
    await relay.flush();
  }
  return { ok: true, response: relay.assembler.completion(), usage: relay.assembler.getUsage() };
}

interface Settled {
  step: Step;
  outcome: Success | Failure;
  startedAt: number;
}

/**
 * The first attempt of an alias that hedges: if the primary has produced no first token after
 * `afterMs`, the next target starts too; the first to produce one answers and the other is
 * cancelled. Returns the settled calls, the one whose outcome decides the request last.
 */
async function hedged(
  ctx: WorkerContext,
  envelope: RequestEnvelope,
  step: Step,
  chain: Chain,
  policy: ResolvedPolicy,
  relay: StreamRelay | undefined,
  cancelled: AbortSignal,
  calls: CallCount,
  afterMs: number,
  decideInput: () => Parameters<typeof hedgeTarget>[0],
): Promise<Settled[]> {
  const race = new HedgeRace();
  const start = (s: Step): Promise<Settled> => {
    const { id, signal } = race.join();
    const startedAt = Date.now();
    return callOnce(ctx, envelope, s.target, s.keyId, fallbackIndex(chain, s), policy, relay, cancelled, calls, { race, id, signal }).then((outcome) => ({ step: s, outcome, startedAt }));
  };
  const primary = start(step);
  const timer = new AbortController();
  const first = await Promise.race([primary, sleep(afterMs, 'hedge' as const, { signal: timer.signal }).catch(() => 'cancelled' as const)]);
  timer.abort();
  if (first !== 'hedge' || race.decided()) return [await primary];
  const next = hedgeTarget(decideInput());
  if (!next) return [await primary];
  ctx.metrics.fallbacks.inc({ from: step.target.id, to: next.target.id, reason: 'hedge' });
  ctx.logger.info({ requestId: envelope.id, primary: step.target.id, hedge: next.target.id, afterMs }, 'no first token yet; hedging with the next target');
  const secondary = start({ ...next, kind: 'fallback', failure: 'timeout', reason: 'not_retryable', continuation: false, skipped: next.skipped });
  const both = await Promise.all([primary, secondary]);
  // The winner (a success, or the later failure when both failed) goes last.
  const winner = both.find((s) => s.outcome.ok) ?? both[1];
  return [...both.filter((s) => s !== winner), winner];
}

/** The request a continuation sends: the conversation plus the answer so far, to be continued. */
function continuationBody(body: ChatRequest, relay: StreamRelay): ChatRequest {
  if (!relay.hasOutput()) return body;
  return { ...body, messages: [...body.messages, { role: 'assistant', content: relay.assembler.text() }] };
}

function keyHealthOf(step: Step): string | undefined {
  return step.keyId ? keyHealthId(step.target.provider, step.keyId) : undefined;
}

function failure(error: UpstreamError, cls: FailureClass): Failure {
  return { ok: false, error, failure: cls };
}

function failedResult(envelope: RequestEnvelope, decision: Extract<Decision, { kind: 'fail' }>, attempts: Attempt[], lastError: UpstreamError | undefined): ResultEnvelope {
  const response = failureResponse(decision.failure, lastError);
  const passedThrough = response.passedThrough === true;
  const summary = attempts.map((a) => `${a.provider}/${a.model}: ${a.failure ?? 'ok'}${a.status ? ` (${a.status})` : ''}`).join('; ');
  const headers: Record<string, string> = { ...response.headers };
  if (decision.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
  const error = passedThrough
    ? response.error
    : { ...response.error, code: decision.code, message: attempts.length > 0 ? `${response.error.message}. Attempts: ${summary}.` : response.error.message };
  return {
    v: envelopeVersion,
    id: envelope.id,
    status: 'failed',
    httpStatus: passedThrough ? response.httpStatus : decision.status,
    error,
    ...(Object.keys(headers).length > 0 ? { errorHeaders: headers } : {}),
    ...(attempts.length > 0 ? { provider: attempts[attempts.length - 1].provider, model: attempts[attempts.length - 1].model } : {}),
    attempts,
    acceptedAt: envelope.acceptedAt,
    completedAt: Date.now(),
  };
}

/**
 * Says why a request's first call does not go to its primary (breaker open, keys cooling down),
 * once per request, and counts a fallback from each target skipped to the one chosen.
 */
function explainFirst(ctx: WorkerContext, log: WorkerContext['logger'], decision: FirstDecision): void {
  if (decision.skipped.length === 0) return;
  const skipped = decision.skipped.map((s) => `${s.target.id}:${s.why}`);
  if (decision.kind === 'fail') {
    log.warn({ skipped, status: decision.status, code: decision.code }, 'no target can be tried; failing at once');
    return;
  }
  for (const s of decision.skipped) ctx.metrics.fallbacks.inc({ from: s.target.id, to: decision.target.id, reason: s.why });
  log.warn({ to: decision.target.id, skipped }, 'first attempt skips unhealthy targets');
}

/** Says, once per failover, why it happened; counts retries and fallbacks. */
function explain(ctx: WorkerContext, log: WorkerContext['logger'], from: Target, outcome: Failure, decision: Decision): void {
  const base = { from: from.id, failure: outcome.failure, status: outcome.error.status, code: outcome.error.code, phase: outcome.error.phase };
  switch (decision.kind) {
    case 'retry':
      ctx.metrics.retries.inc({ provider: from.provider, model: from.model, failure: outcome.failure });
      log.warn({ ...base, delayMs: decision.delayMs }, 'attempt failed; retrying the same target');
      return;
    case 'rotate':
      ctx.metrics.fallbacks.inc({ from: from.id, to: decision.target.id, reason: 'key_rotation' });
      log.warn({ ...base, keyId: decision.keyId }, 'attempt failed; rotating to another key');
      return;
    case 'fallback':
      ctx.metrics.fallbacks.inc({ from: from.id, to: decision.target.id, reason: decision.reason });
      log.warn({ ...base, to: decision.target.id, reason: decision.reason, continuation: decision.continuation, skipped: decision.skipped.map((s) => `${s.target.id}:${s.why}`) }, 'attempt failed; falling back');
      return;
    case 'fail':
      log.warn({ ...base, status: decision.status, code: decision.code }, 'attempt failed; no target left');
  }
}

/** An upstream message for the stored attempt, unless it may echo a credential. */
function safeMessage(err: UpstreamError): string {
  return err.status === 401 || err.status === 403 ? 'authentication failed' : err.message.slice(0, 300);
}

/** Waits, unless the wait would end at or past the deadline. */
async function sleepUntilDeadline(ms: number, deadline: number): Promise<boolean> {
  if (Date.now() + ms >= deadline) return false;
  await sleep(ms);
  return true;
}
