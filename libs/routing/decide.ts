// The routing decision: given the chain, the attempts so far (the last one just failed), the
// policy, the shared health view, the clock and a random source, what happens next — retry the
// same target, rotate to another key, fall back to the next target, or fail with a status that
// says what happened. Pure: the lead's worker applies the decision (sleeps, calls, writes health).
//
// Order of preference after a failure, and why:
//   1. Final classes end the request: cancelled (499), deadline_exceeded / now ≥ deadline (504),
//      internal (500), client (its own 4xx, passed through). context_length and content_filter
//      switch to their lane's chain when configured, else are final too.
//   2. Mid-stream failure (tokens already reached the client) with midStream 'error' ends the
//      request. With 'continue' it never waits on the same target; it rotates or falls back, and
//      the decision says `continuation` so the next call continues the partial answer.
//   3. rate_limited / auth on a key: the key cools down (the decision carries the cooldown to
//      write) and, when another key of the same target is usable now, rotate at once — no retry
//      budget spent, no backoff.
//   4. Retry the same target while the class allows and budget remains: the budget is the number
//      of 'retry' attempts made on this target (any class) against this class's `attempts`. The
//      delay is the upstream's wait hint when it gave one, else full-jitter backoff; stretched to
//      when a key comes back if none is usable sooner. Retried only if now + delay < deadline and
//      the target's breaker allows; otherwise fall over at once.
//   5. Fall back: the next untried target of the current lane, from the current step on (the rest
//      of a weighted group first, weighted among the usable ones), skipping — at no cost — targets
//      whose breaker is open or whose keys are all out. Every skip is reported.
//   6. Nothing left: fail (see `failure` below for the status rules).
import type { FailureClass } from '#libs/contracts/envelope.ts';
import { backoffDelay } from './backoff.ts';
import { canPass, closedBreaker, type BreakerState } from './breaker.ts';
import type { Chain, Lane, ProviderLike, Target } from './chain.ts';
import { failureResponse } from './failure-response.ts';
import { cooldownFor, keyHealthId, pickKey, type KeyCooldown, type KeyHealth } from './key-pool.ts';
import type { ResolvedPolicy, RetryableClass } from './policy-schema.ts';
import type { Random } from './random-source.ts';
import { weightedPick } from './weighted-pick.ts';

export type AttemptKind = 'first' | 'retry' | 'rotate' | 'fallback' | 'hedge';

/** One finished attempt, as the worker records it (it copies kind and lane from the decision). */
export interface AttemptRecord {
  target: Target;
  keyId?: string;
  lane: Lane;
  kind: AttemptKind;
  /** The failure class; absent for an attempt still in flight (hedging). */
  failure?: FailureClass;
  /** The upstream's wait hint (retry-after.ts), ms from `at`. */
  waitMs?: number;
  /** True when some of this attempt's tokens already reached the client. */
  streamed?: boolean;
  /** When the attempt ended (the failure was seen). */
  at: number;
}

export interface HealthView {
  /** Breakers per target, by Target.id; absent means closed. */
  targets: Readonly<Record<string, BreakerState>>;
  keys: KeyHealth;
}

export interface RoutingContext {
  chain: Chain;
  providers: Readonly<Record<string, ProviderLike>>;
  policy: ResolvedPolicy;
  health: HealthView;
  now: number;
  /** Absolute epoch ms from the envelope; nothing is scheduled at or after it. */
  deadline: number;
  random: Random;
}

export interface DecideInput extends RoutingContext {
  /** Every attempt so far in order; the last is the one that just failed. */
  attempts: readonly AttemptRecord[];
}

/** Which breakers the chosen call is a half-open probe of: the worker claims those probe slots. */
export interface Probe {
  target: boolean;
  key: boolean;
}

export interface Skipped {
  target: Target;
  why: 'breaker_open' | 'no_key_for_model' | 'keys_out';
  /** When the first of its cooling keys comes back. */
  availableAt?: number;
  /** True when all its keys are out on 429 cooldowns. */
  rateLimited?: boolean;
}

/** A cooldown the worker must write to shared health for the key that just failed. */
export interface CooldownEffect {
  /** keyHealthId(provider, keyId). */
  key: string;
  cooldown: KeyCooldown;
}

export type FallbackReason =
  | 'not_retryable'
  | 'retries_exhausted'
  | 'wait_past_deadline'
  | 'breaker_open'
  | 'keys_out'
  | 'context_length'
  | 'content_filter'
  | 'mid_stream';

interface Next {
  target: Target;
  keyId: string | undefined;
  lane: Lane;
  probe: Probe;
}

export type Decision =
  | (Next & { kind: 'retry'; delayMs: number; failure: FailureClass; cooldown?: CooldownEffect })
  | (Next & { kind: 'rotate'; failure: FailureClass; continuation: boolean; cooldown?: CooldownEffect })
  | (Next & { kind: 'fallback'; failure: FailureClass; reason: FallbackReason; continuation: boolean; skipped: Skipped[]; cooldown?: CooldownEffect })
  | Fail;

export interface Fail {
  kind: 'fail';
  status: number;
  code: string;
  /** The class to build the client's error from (failureResponse); caller faults pass through. */
  failure: FailureClass;
  retryAfterMs?: number;
  attemptsSummary: AttemptRecord[];
  skipped: Skipped[];
  cooldown?: CooldownEffect;
}

export type FirstDecision = (Next & { kind: 'attempt'; skipped: Skipped[] }) | Fail;

const callerFaults = new Set<FailureClass>(['client', 'context_length', 'content_filter']);
const keyFaults = new Set<FailureClass>(['rate_limited', 'auth']);

/** The first call of a request: the primary group, weighted, skipping unhealthy targets. */
export function firstAttempt(ctx: RoutingContext): FirstDecision {
  if (ctx.now >= ctx.deadline) return deadlineFail(ctx, [], []);
  const found = searchLane(ctx, ctx.health, 'main', 0, new Set());
  if (found.next) return { kind: 'attempt', ...found.next, skipped: found.skipped };
  return exhausted(ctx, [], found.skipped);
}

export function decideNext(input: DecideInput): Decision {
  const { attempts, policy, now } = input;
  const last = attempts.at(-1);
  if (!last?.failure) return failWith('internal', input, [], undefined);
  const failure = last.failure;

  const cooldown = last.keyId === undefined ? undefined : cooldownFor(failure, last.waitMs, policy.keyCooldown, now);
  const effect: CooldownEffect | undefined = cooldown && last.keyId !== undefined ? { key: keyHealthId(last.target.provider, last.keyId), cooldown } : undefined;
  const health = effect ? withCooldown(input.health, effect) : input.health;
  const withEffect = <T extends Decision>(d: T): T => (effect ? { ...d, cooldown: effect } : d);

  if (now >= input.deadline || failure === 'deadline_exceeded') return withEffect(deadlineFail(input, attempts, []));
  if (failure === 'cancelled' || failure === 'internal' || failure === 'client') return withEffect(failWith(failure, input, [], undefined));
  if (last.streamed && policy.midStream === 'error') return withEffect(failWith(failure, input, [], undefined));
  const continuation = last.streamed === true;
  const tried = new Set(attempts.map((a) => a.target.id));

  if (failure === 'context_length' || failure === 'content_filter') {
    const lane: Lane = failure === 'context_length' ? 'context' : 'content';
    if (input.chain[lane].length === 0) return withEffect(failWith(failure, input, [], undefined));
    const from = last.lane === lane ? stepOf(input.chain, lane, last.target.id) : 0;
    const found = searchLane(input, health, lane, from, tried);
    if (!found.next) return withEffect(exhausted(input, attempts, found.skipped));
    return withEffect({ kind: 'fallback', ...found.next, failure, reason: failure, continuation, skipped: found.skipped });
  }

  const targetPass = canPass(input.health.targets[last.target.id] ?? closedBreaker, now, policy.breaker);

  if (keyFaults.has(failure) && last.keyId !== undefined && targetPass.allowed) {
    const key = pickKey({ ...keyInput(input, health, last.target), now });
    if (key.ok) return withEffect({ kind: 'rotate', target: last.target, keyId: key.keyId, lane: last.lane, probe: { target: targetPass.probe, key: key.probe }, failure, continuation });
  }

  let reason: FallbackReason;
  if (continuation) {
    reason = 'mid_stream';
  } else {
    const retry = planRetry(input, health, last, failure, targetPass.allowed);
    if (retry.kind === 'retry') return withEffect({ ...retry.decision, probe: { target: targetPass.probe, key: retry.decision.probe.key } });
    reason = retry.reason;
  }

  const found = searchLane(input, health, last.lane, stepOf(input.chain, last.lane, last.target.id), tried);
  if (!found.next) return withEffect(exhausted(input, attempts, found.skipped));
  return withEffect({ kind: 'fallback', ...found.next, failure, reason, continuation, skipped: found.skipped });
}

/**
 * The target a hedge would start while the last attempt is still in flight: the next usable one
 * of its lane. Undefined when the policy does not hedge or nothing is left. The worker decides
 * when (policy.hedge.afterMs without a first token) and cancels the loser.
 */
export function hedgeTarget(input: DecideInput): (Next & { kind: 'hedge'; skipped: Skipped[] }) | undefined {
  const last = input.attempts.at(-1);
  if (!input.policy.hedge || !last || input.now >= input.deadline) return undefined;
  const tried = new Set(input.attempts.map((a) => a.target.id));
  const found = searchLane(input, input.health, last.lane, stepOf(input.chain, last.lane, last.target.id), tried);
  return found.next ? { kind: 'hedge', ...found.next, skipped: found.skipped } : undefined;
}

type RetryPlan =
  | { kind: 'retry'; decision: Next & { kind: 'retry'; delayMs: number; failure: FailureClass } }
  | { kind: 'no'; reason: FallbackReason };

function planRetry(input: DecideInput, health: HealthView, last: AttemptRecord, failure: RetryableClass, targetAllowed: boolean): RetryPlan {
  const rule = input.policy.retry[failure];
  const spent = input.attempts.filter((a) => a.kind === 'retry' && a.target.id === last.target.id).length;
  if (rule.attempts === 0) return { kind: 'no', reason: 'not_retryable' };
  if (spent >= rule.attempts) return { kind: 'no', reason: 'retries_exhausted' };
  if (!targetAllowed) return { kind: 'no', reason: 'breaker_open' };

  let delayMs = last.waitMs ?? backoffDelay(spent, rule, input.random);
  if (input.now + delayMs >= input.deadline) return { kind: 'no', reason: 'wait_past_deadline' };
  let key = pickKey({ ...keyInput(input, health, last.target), now: input.now + delayMs });
  if (!key.ok && key.availableAt !== undefined) {
    // Only cooling keys: wait for the first to come back, if that still fits.
    delayMs = key.availableAt - input.now;
    if (input.now + delayMs >= input.deadline) return { kind: 'no', reason: 'wait_past_deadline' };
    key = pickKey({ ...keyInput(input, health, last.target), now: input.now + delayMs });
  }
  if (!key.ok) return { kind: 'no', reason: 'keys_out' };
  return {
    kind: 'retry',
    decision: { kind: 'retry', target: last.target, keyId: key.keyId, lane: last.lane, probe: { target: false, key: key.probe }, delayMs, failure },
  };
}

function keyInput(ctx: RoutingContext, health: HealthView, target: Target) {
  return {
    provider: target.provider,
    model: target.model,
    keys: ctx.providers[target.provider]?.keys ?? [],
    health: health.keys,
    breakerPolicy: ctx.policy.breaker,
    random: ctx.random,
  };
}

/** The next usable target of a lane from step `from` on, weighted within its step. */
function searchLane(ctx: RoutingContext, health: HealthView, lane: Lane, from: number, tried: ReadonlySet<string>): { next?: Next; skipped: Skipped[] } {
  const skipped: Skipped[] = [];
  const steps = ctx.chain[lane];
  for (let i = Math.max(0, from); i < steps.length; i++) {
    const usable: (Next & { weight: number })[] = [];
    for (const { target, weight } of steps[i]?.targets ?? []) {
      if (tried.has(target.id)) continue;
      const pass = canPass(health.targets[target.id] ?? closedBreaker, ctx.now, ctx.policy.breaker);
      if (!pass.allowed) {
        skipped.push({ target, why: 'breaker_open' });
        continue;
      }
      const key = pickKey({ ...keyInput(ctx, health, target), now: ctx.now });
      if (!key.ok) {
        const skip: Skipped = { target, why: key.why, rateLimited: key.rateLimited };
        if (key.availableAt !== undefined) skip.availableAt = key.availableAt;
        skipped.push(skip);
        continue;
      }
      usable.push({ target, keyId: key.keyId, lane, probe: { target: pass.probe, key: key.probe }, weight });
    }
    const chosen = weightedPick(usable, (u) => u.weight, ctx.random);
    if (chosen) {
      const { weight: _weight, ...next } = chosen;
      return { next, skipped };
    }
  }
  return { skipped };
}

function stepOf(chain: Chain, lane: Lane, targetId: string): number {
  const index = chain[lane].findIndex((step) => step.targets.some((t) => t.target.id === targetId));
  return index === -1 ? 0 : index;
}

function withCooldown(health: HealthView, effect: CooldownEffect): HealthView {
  return { ...health, keys: { ...health.keys, cooldowns: { ...health.keys.cooldowns, [effect.key]: effect.cooldown } } };
}

function deadlineFail(ctx: RoutingContext, attempts: readonly AttemptRecord[], skipped: Skipped[]): Fail {
  return failWith('deadline_exceeded', { ...ctx, attempts }, skipped, undefined);
}

function failWith(failure: FailureClass, input: DecideInput, skipped: Skipped[], retryAfterMs: number | undefined, status?: number, code?: string): Fail {
  const base = failureResponse(failure);
  const fail: Fail = {
    kind: 'fail',
    status: status ?? base.httpStatus,
    code: code ?? base.error.code ?? failure,
    failure,
    attemptsSummary: [...input.attempts],
    skipped,
  };
  if (retryAfterMs !== undefined) fail.retryAfterMs = retryAfterMs;
  return fail;
}

/**
 * Nothing left to try. The status says what happened:
 * - the last failure was a caller fault (client, context_length, content_filter): that class;
 * - every attempt was rate limited (or nothing could be tried because every target's keys were
 *   out on 429 cooldowns): 429, Retry-After = the earliest moment any of them comes back (an
 *   attempt's hint, else the default cooldown; a skipped target's first key back);
 * - nothing could be tried (breakers open, keys out): 503 no_healthy_upstream;
 * - every failure of one class: that class's status (overloaded 503, server/network/auth 502,
 *   timeout 504);
 * - only rate_limited and overloaded: 503; anything else mixed: 502.
 */
function exhausted(ctx: RoutingContext, attempts: readonly AttemptRecord[], skipped: Skipped[]): Fail {
  const input = { ...ctx, attempts };
  const failures = attempts.flatMap((a) => (a.failure ? [a.failure] : []));
  const last = failures.at(-1);
  if (last && callerFaults.has(last)) return failWith(last, input, skipped, undefined);

  const skipsRateLimited = skipped.length > 0 && skipped.every((s) => s.why === 'keys_out' && s.rateLimited === true);
  const allRateLimited = failures.length > 0 ? failures.every((f) => f === 'rate_limited') : skipsRateLimited;
  if (allRateLimited) {
    const comeback = [
      ...attempts.map((a) => a.at + (a.waitMs ?? ctx.policy.keyCooldown.rateLimitDefaultMs)),
      ...skipped.flatMap((s) => (s.rateLimited && s.availableAt !== undefined ? [s.availableAt] : [])),
    ];
    const earliest = comeback.length > 0 ? Math.max(0, Math.min(...comeback) - ctx.now) : undefined;
    return failWith('rate_limited', input, skipped, earliest);
  }
  if (failures.length === 0) {
    const untils = skipped.flatMap((s) => (s.availableAt === undefined ? [] : [s.availableAt]));
    const retryAfter = untils.length > 0 ? Math.max(0, Math.min(...untils) - ctx.now) : undefined;
    return failWith('overloaded', input, skipped, retryAfter, 503, 'no_healthy_upstream');
  }
  const classes = new Set(failures);
  const only = classes.size === 1 ? failures[0] : undefined;
  if (only) return failWith(only, input, skipped, undefined);
  if ([...classes].every((c) => c === 'rate_limited' || c === 'overloaded')) return failWith('overloaded', input, skipped, undefined);
  return failWith('server', input, skipped, undefined);
}
