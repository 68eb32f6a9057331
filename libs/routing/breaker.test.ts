import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FailureClass } from '#libs/contracts/envelope.ts';
import {
  breakerStateSchema,
  canPass,
  claimProbe,
  closedBreaker,
  countsAgainstHealth,
  mergeBreakers,
  recordFailure,
  recordOutcome,
  recordSuccess,
  releaseProbe,
  windowCounts,
  type BreakerState,
} from './breaker.ts';
import { defaultBreaker, type BreakerPolicy } from './policy-schema.ts';

const policy: BreakerPolicy = { ...defaultBreaker, windowMs: 10_000, buckets: 10, minRequests: 4, failureRate: 0.5, consecutiveFailures: 3, openMs: 5_000, halfOpenProbes: 2 };
const t0 = 1_000_000;

function apply(state: BreakerState, outcomes: ('ok' | 'fail')[], start: number, stepMs = 10): BreakerState {
  let s = state;
  outcomes.forEach((o, i) => {
    s = o === 'ok' ? recordSuccess(s, start + i * stepMs, policy) : recordFailure(s, start + i * stepMs, policy);
  });
  return s;
}

function opened(at: number): BreakerState {
  return apply(closedBreaker, ['fail', 'fail', 'fail'], at - 20);
}

describe('breaker: what counts', () => {
  const table: [FailureClass, boolean][] = [
    ['server', true],
    ['overloaded', true],
    ['network', true],
    ['timeout', true],
    ['rate_limited', false],
    ['auth', false],
    ['client', false],
    ['context_length', false],
    ['content_filter', false],
    ['cancelled', false],
    ['deadline_exceeded', false],
    ['internal', false],
  ];
  for (const [cls, counts] of table) {
    it(`${cls} ${counts ? 'counts against' : 'does not count against'} the target's health`, () => {
      assert.equal(countsAgainstHealth(cls), counts);
      const after = recordOutcome(closedBreaker, cls, t0, policy);
      assert.equal(windowCounts(after, t0, policy).failures, counts ? 1 : 0);
    });
  }

  it('client faults never open a breaker however many arrive', () => {
    let s = closedBreaker;
    for (let i = 0; i < 100; i++) s = recordOutcome(s, 'client', t0 + i, policy);
    assert.equal(s.state, 'closed');
    assert.deepEqual(canPass(s, t0 + 100, policy), { allowed: true, probe: false });
  });
});

describe('breaker: closed → open', () => {
  it('opens on consecutive failures', () => {
    const s = apply(closedBreaker, ['fail', 'fail'], t0);
    assert.equal(s.state, 'closed');
    const o = recordFailure(s, t0 + 50, policy);
    assert.equal(o.state, 'open');
    assert.equal(o.since, t0 + 50);
  });

  it('a success resets the consecutive count', () => {
    // 4 failures in 10 is 40%: under the rate threshold, and never 3 in a row.
    const s = apply(closedBreaker, ['ok', 'ok', 'ok', 'ok', 'ok', 'fail', 'fail', 'ok', 'fail', 'fail'], t0);
    assert.equal(s.state, 'closed');
    assert.equal(s.consecutiveFailures, 2);
  });

  it('opens on the failure rate once the window holds minRequests', () => {
    // ok fail ok fail: 2 of 4 = 50% with minRequests 4, never 3 in a row
    const s = apply(closedBreaker, ['ok', 'fail', 'ok', 'fail'], t0);
    assert.equal(s.state, 'open');
  });

  it('does not open on the rate below minRequests', () => {
    const s = apply(closedBreaker, ['ok', 'fail'], t0);
    assert.equal(s.state, 'closed');
  });

  it('does not open when the rate stays below the threshold', () => {
    const s = apply(closedBreaker, ['ok', 'ok', 'fail', 'ok', 'ok', 'fail', 'ok'], t0);
    assert.equal(s.state, 'closed');
  });

  it('forgets outcomes that rolled out of the window', () => {
    // Two old failures, then the window slides past them: 1 fail in 4 recent is 25%.
    let s = apply(closedBreaker, ['fail', 'fail', 'ok'], t0);
    s = apply(s, ['ok', 'ok', 'fail'], t0 + 20_000);
    assert.equal(s.state, 'closed');
    assert.deepEqual(windowCounts(s, t0 + 20_020, policy), { successes: 2, failures: 1 });
    assert.ok(s.buckets.every((b) => b.start >= t0 + 10_000), 'old buckets are pruned on write');
  });

  it('keeps at most one bucket per window slice', () => {
    let s = closedBreaker;
    for (let i = 0; i < 200; i++) s = recordSuccess(s, t0 + i * 100, policy);
    assert.ok(s.buckets.length <= policy.buckets + 1);
    // Bucket granularity: the window is the last 10 s plus the bucket that straddles its start.
    assert.equal(windowCounts(s, t0 + 19_900, policy).successes, 110);
  });
});

describe('breaker: open → half-open → closed / open', () => {
  it('an open breaker skips its target until openMs has passed', () => {
    const s = opened(t0);
    assert.deepEqual(canPass(s, t0, policy), { allowed: false, probe: false });
    assert.deepEqual(canPass(s, t0 + 4_999, policy), { allowed: false, probe: false });
    assert.deepEqual(canPass(s, t0 + 5_000, policy), { allowed: true, probe: true });
  });

  it('half-open lets halfOpenProbes probes through, then holds the rest', () => {
    let s = opened(t0);
    const at = t0 + 5_000;
    s = claimProbe(s, at, policy);
    assert.equal(s.state, 'half_open');
    assert.equal(s.probesInFlight, 1);
    assert.deepEqual(canPass(s, at + 1, policy), { allowed: true, probe: true });
    s = claimProbe(s, at + 1, policy);
    assert.equal(s.probesInFlight, 2);
    assert.deepEqual(canPass(s, at + 2, policy), { allowed: false, probe: true });
  });

  it("a probe's success closes the breaker with a clean window", () => {
    const s = recordSuccess(claimProbe(opened(t0), t0 + 5_000, policy), t0 + 5_100, policy);
    assert.equal(s.state, 'closed');
    assert.deepEqual(s.buckets, []);
    assert.equal(s.consecutiveFailures, 0);
    assert.deepEqual(canPass(s, t0 + 5_101, policy), { allowed: true, probe: false });
  });

  it("a probe's failure re-opens it for another openMs", () => {
    const s = recordFailure(claimProbe(opened(t0), t0 + 5_000, policy), t0 + 5_100, policy);
    assert.equal(s.state, 'open');
    assert.equal(s.since, t0 + 5_100);
    assert.equal(canPass(s, t0 + 10_099, policy).allowed, false);
    assert.equal(canPass(s, t0 + 10_100, policy).allowed, true);
  });

  it('a neutral result on a probe hands the slot back', () => {
    let s = claimProbe(opened(t0), t0 + 5_000, policy);
    s = claimProbe(s, t0 + 5_001, policy);
    s = recordOutcome(s, 'client', t0 + 5_050, policy, true);
    assert.equal(s.state, 'half_open');
    assert.equal(s.probesInFlight, 1);
    assert.equal(canPass(s, t0 + 5_060, policy).allowed, true);
    assert.equal(releaseProbe(closedBreaker), closedBreaker);
  });

  it('probes that never answer (a worker died) expire after openMs and a new round starts', () => {
    let s = claimProbe(opened(t0), t0 + 5_000, policy);
    s = claimProbe(s, t0 + 5_001, policy);
    assert.equal(canPass(s, t0 + 9_999, policy).allowed, false);
    assert.deepEqual(canPass(s, t0 + 10_000, policy), { allowed: true, probe: true });
    s = claimProbe(s, t0 + 10_000, policy);
    assert.equal(s.probesInFlight, 1);
    assert.equal(s.since, t0 + 10_000);
  });

  it('a late success while open does not close it', () => {
    const s = recordSuccess(opened(t0), t0 + 100, policy);
    assert.equal(s.state, 'open');
  });
});

describe('breaker: shared state', () => {
  it('round-trips through JSON and the schema (Redis)', () => {
    const s = apply(closedBreaker, ['ok', 'fail', 'ok'], t0);
    assert.deepEqual(breakerStateSchema.parse(JSON.parse(JSON.stringify(s))), s);
  });

  it('merging a stale closed copy with a fresh open copy keeps the open state', () => {
    const fresh = opened(t0);
    const stale = apply(closedBreaker, ['fail'], t0 - 20);
    assert.equal(mergeBreakers(stale, fresh).state, 'open');
    assert.equal(mergeBreakers(fresh, stale).state, 'open');
  });

  it('merge is idempotent and commutative on counts', () => {
    const a = apply(closedBreaker, ['ok', 'fail'], t0);
    const b = apply(a, ['ok'], t0 + 2_000);
    assert.deepEqual(mergeBreakers(a, a), a);
    assert.deepEqual(mergeBreakers(a, b), mergeBreakers(b, a));
    assert.deepEqual(windowCounts(mergeBreakers(a, b), t0 + 2_000, policy), { successes: 2, failures: 1 });
  });

  it('a close after a probe is not undone by an older copy holding the old failures', () => {
    const old = opened(t0);
    const closed = recordSuccess(claimProbe(old, t0 + 5_000, policy), t0 + 5_100, policy);
    const merged = mergeBreakers(old, closed);
    assert.equal(merged.state, 'closed');
    assert.deepEqual(merged.buckets, []);
  });

  it('at the same transition time the more severe state wins', () => {
    const open: BreakerState = { ...closedBreaker, state: 'open', since: t0 };
    const closed: BreakerState = { ...closedBreaker, state: 'closed', since: t0 };
    assert.equal(mergeBreakers(closed, open).state, 'open');
    assert.equal(mergeBreakers(open, closed).state, 'open');
  });
});
