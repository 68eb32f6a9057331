// A circuit breaker as plain data and pure transitions, so its state can live in Redis and every
// worker agrees. closed → open on a failure rate over a rolling window (once the window holds
// minRequests) or on consecutive failures; open → half-open once openMs has passed; half-open lets
// `halfOpenProbes` probes through; a probe's success closes, its failure re-opens.
//
// What counts: only failures that say the target itself is unhealthy — server, overloaded,
// network, timeout. A 429 is about one key's quota and is handled by key cooldowns; 401/403 is a
// bad key and handled the same way; caller faults (client, context_length, content_filter) and
// cancelled/deadline_exceeded say nothing about the upstream. Those are "neutral": they change no
// counts, and a neutral result on a probe only hands the probe slot back.
import { z } from 'zod';
import type { FailureClass } from '#libs/contracts/envelope.ts';
import type { BreakerPolicy } from './policy-schema.ts';

const count = z.number().int().min(0);

export const breakerStateSchema = z.object({
  state: z.enum(['closed', 'open', 'half_open']),
  /** When the current state began (for open: when it opened). */
  since: z.number(),
  consecutiveFailures: count,
  /** Probes let through in the current half-open round and not yet answered. */
  probesInFlight: count,
  /**
   * Outcome counts in time buckets aligned to multiples of windowMs / buckets, oldest first.
   * Aligned starts let two copies be merged bucket by bucket.
   */
  buckets: z.array(z.object({ start: z.number(), successes: count, failures: count })),
});
export type BreakerState = z.infer<typeof breakerStateSchema>;
export type BreakerBucket = BreakerState['buckets'][number];

export const closedBreaker: BreakerState = Object.freeze({ state: 'closed', since: 0, consecutiveFailures: 0, probesInFlight: 0, buckets: [] });

const healthFailures = new Set<FailureClass>(['server', 'overloaded', 'network', 'timeout']);

/** True for the failure classes that count against a breaker. */
export function countsAgainstHealth(failure: FailureClass): boolean {
  return healthFailures.has(failure);
}

export interface PassDecision {
  allowed: boolean;
  /** The call is a half-open probe: take the slot with claimProbe, report with record*. */
  probe: boolean;
}

/** Whether a call may go to the target now. Reading only; claimProbe takes a probe slot. */
export function canPass(state: BreakerState, now: number, policy: BreakerPolicy): PassDecision {
  if (state.state === 'closed') return { allowed: true, probe: false };
  if (now - state.since < policy.openMs) {
    if (state.state === 'open') return { allowed: false, probe: false };
    return { allowed: state.probesInFlight < policy.halfOpenProbes, probe: true };
  }
  // Open long enough, or a half-open round whose probes never answered (a worker died holding
  // them): a fresh round of probes.
  return { allowed: true, probe: true };
}

/** The state after a probe was let through (call only when canPass said probe). */
export function claimProbe(state: BreakerState, now: number, policy: BreakerPolicy): BreakerState {
  const freshRound = state.state === 'open' || now - state.since >= policy.openMs;
  if (freshRound) return { ...state, state: 'half_open', since: now, probesInFlight: 1 };
  return { ...state, probesInFlight: state.probesInFlight + 1 };
}

export function recordSuccess(state: BreakerState, now: number, policy: BreakerPolicy): BreakerState {
  if (state.state === 'half_open') {
    // The target answered: start over with a clean window so old failures cannot re-trip it.
    return { state: 'closed', since: now, consecutiveFailures: 0, probesInFlight: 0, buckets: [] };
  }
  const buckets = addToWindow(state.buckets, now, policy, 'successes');
  // A late success of a call started before the breaker opened does not close it.
  if (state.state === 'open') return { ...state, buckets };
  return { ...state, consecutiveFailures: 0, buckets };
}

export function recordFailure(state: BreakerState, now: number, policy: BreakerPolicy): BreakerState {
  const buckets = addToWindow(state.buckets, now, policy, 'failures');
  const consecutiveFailures = state.consecutiveFailures + 1;
  if (state.state === 'half_open') return { state: 'open', since: now, consecutiveFailures, probesInFlight: 0, buckets };
  if (state.state === 'open') return { ...state, consecutiveFailures, buckets };
  const next: BreakerState = { ...state, consecutiveFailures, buckets };
  return shouldOpen(next, now, policy) ? { ...next, state: 'open', since: now, probesInFlight: 0 } : next;
}

/** Hands a probe slot back when its call ended with a result that says nothing about health. */
export function releaseProbe(state: BreakerState): BreakerState {
  if (state.state !== 'half_open' || state.probesInFlight === 0) return state;
  return { ...state, probesInFlight: state.probesInFlight - 1 };
}

/** Applies one call's outcome by the counting rules at the top of this file. */
export function recordOutcome(state: BreakerState, outcome: 'success' | FailureClass, now: number, policy: BreakerPolicy, probe = false): BreakerState {
  if (outcome === 'success') return recordSuccess(state, now, policy);
  if (countsAgainstHealth(outcome)) return recordFailure(state, now, policy);
  return probe ? releaseProbe(state) : state;
}

/** Successes and failures inside the rolling window ending at `now`. */
export function windowCounts(state: BreakerState, now: number, policy: BreakerPolicy): { successes: number; failures: number } {
  let successes = 0;
  let failures = 0;
  for (const bucket of state.buckets) {
    if (!inWindow(bucket, now, policy)) continue;
    successes += bucket.successes;
    failures += bucket.failures;
  }
  return { successes, failures };
}

/**
 * Joins two copies of the same shared breaker (a cached copy and a fresh read, or two workers'
 * racing writes). The copy whose state began later wins the state (a transition is never lost);
 * bucket counts take the larger of each count, which is exact for copies of one record and
 * undercounts by at most one writer's concurrent increments otherwise — never over-trips.
 * (Writers that can use Redis HINCRBY on the aligned bucket fields avoid even that.)
 */
export function mergeBreakers(a: BreakerState, b: BreakerState): BreakerState {
  const newer = b.since > a.since || (b.since === a.since && severity(b) > severity(a)) ? b : a;
  const byStart = new Map<number, BreakerBucket>();
  for (const bucket of [...a.buckets, ...b.buckets]) {
    const seen = byStart.get(bucket.start);
    byStart.set(
      bucket.start,
      seen ? { start: bucket.start, successes: Math.max(seen.successes, bucket.successes), failures: Math.max(seen.failures, bucket.failures) } : bucket,
    );
  }
  const buckets = [...byStart.values()].sort((x, y) => x.start - y.start);
  return {
    state: newer.state,
    since: newer.since,
    consecutiveFailures: a.since === b.since ? Math.max(a.consecutiveFailures, b.consecutiveFailures) : newer.consecutiveFailures,
    probesInFlight: a.since === b.since && a.state === b.state ? Math.max(a.probesInFlight, b.probesInFlight) : newer.probesInFlight,
    // A close after a probe wiped the window on purpose; the older copy must not bring it back.
    buckets: newer.state === 'closed' && a.since !== b.since ? newer.buckets : buckets,
  };
}

function severity(s: BreakerState): number {
  return s.state === 'open' ? 2 : s.state === 'half_open' ? 1 : 0;
}

function shouldOpen(state: BreakerState, now: number, policy: BreakerPolicy): boolean {
  if (state.consecutiveFailures >= policy.consecutiveFailures) return true;
  const { successes, failures } = windowCounts(state, now, policy);
  const total = successes + failures;
  return total >= policy.minRequests && failures / total >= policy.failureRate;
}

function bucketMs(policy: BreakerPolicy): number {
  return Math.max(1, Math.floor(policy.windowMs / policy.buckets));
}

function inWindow(bucket: BreakerBucket, now: number, policy: BreakerPolicy): boolean {
  return bucket.start + bucketMs(policy) > now - policy.windowMs && bucket.start <= now;
}

function addToWindow(buckets: readonly BreakerBucket[], now: number, policy: BreakerPolicy, field: 'successes' | 'failures'): BreakerBucket[] {
  const size = bucketMs(policy);
  const start = Math.floor(now / size) * size;
  const kept = buckets.filter((b) => inWindow(b, now, policy) && b.start !== start);
  const current = buckets.find((b) => b.start === start) ?? { start, successes: 0, failures: 0 };
  kept.push({ ...current, [field]: current[field] + 1 });
  return kept.sort((x, y) => x.start - y.start);
}
