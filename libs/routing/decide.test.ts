import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FailureClass } from '#libs/contracts/envelope.ts';
import { claimProbe, closedBreaker, recordFailure, type BreakerState } from './breaker.ts';
import { expandChain, resolveModel, type ChainConfig, type Lane, type Target } from './chain.ts';
import { decideNext, firstAttempt, hedgeTarget, type AttemptRecord, type Decision, type DecideInput, type HealthView, type RoutingContext } from './decide.ts';
import { modelsSchema, resolvePolicy, routingSchema, type ResolvedPolicy, type RetryableClass } from './policy-schema.ts';
import { fixedRandom, seededRandom } from './random-source.ts';

const T = 1_750_000_000_000;

const config: ChainConfig = {
  providers: {
    openai: { models: ['gpt-4o'], keys: [{ id: 'k1', weight: 1 }, { id: 'k2', weight: 1 }, { id: 'k3', weight: 1 }] },
    azure: { models: ['gpt-4o'], keys: [{ id: 'az1', weight: 1 }] },
    anthropic: { models: ['claude-*'], keys: [{ id: 'an1', weight: 1 }] },
    solo: { models: ['solo-*'] },
  },
  routing: routingSchema.parse({}),
  models: modelsSchema.parse({
    smart: {
      targets: ['openai/gpt-4o'],
      fallbacks: ['anthropic/claude-sonnet', 'azure/gpt-4o'],
      contextFallbacks: ['anthropic/claude-long'],
    },
    lb: { targets: ['openai/gpt-4o', 'azure/gpt-4o'], fallbacks: ['anthropic/claude-sonnet'] },
    single: { targets: ['solo/solo-1'], fallbacks: ['solo/solo-2'], contextFallbacks: ['solo/solo-big'], contentFallbacks: ['solo/solo-lenient'] },
    hedged: { targets: ['solo/solo-1'], fallbacks: ['solo/solo-2'], hedge: { afterMs: 500 } },
    strict: { targets: ['solo/solo-1'], fallbacks: ['solo/solo-2'], midStream: 'error' },
  }),
};

const noHealth: HealthView = { targets: {}, keys: { cooldowns: {}, breakers: {} } };

function target(id: string): Target {
  const t = resolveModel(id, config.providers);
  assert.ok(t, id);
  return t;
}

function ctx(model: string, over: Partial<RoutingContext> = {}): RoutingContext {
  return {
    chain: expandChain({ model }, config),
    providers: config.providers,
    policy: resolvePolicy(model, config),
    health: noHealth,
    now: T,
    deadline: T + 60_000,
    random: seededRandom(1),
    ...over,
  };
}

function failed(id: string, failure: FailureClass, o: Partial<Omit<AttemptRecord, 'target' | 'failure'>> = {}): AttemptRecord {
  return { target: target(id), lane: 'main', kind: 'first', at: T, failure, ...o };
}

function decide(model: string, attempts: AttemptRecord[], over: Partial<RoutingContext> = {}): Decision {
  const input: DecideInput = { ...ctx(model, over), attempts };
  return decideNext(input);
}

function openBreaker(at: number, policy: ResolvedPolicy = resolvePolicy(undefined, config)): BreakerState {
  let s = closedBreaker;
  for (let i = 0; i < policy.breaker.consecutiveFailures; i++) s = recordFailure(s, at, policy.breaker);
  return s;
}

function expectKind<K extends Decision['kind']>(d: Decision, kind: K): Extract<Decision, { kind: K }> {
  assert.equal(d.kind, kind, JSON.stringify(d));
  return d as Extract<Decision, { kind: K }>;
}

describe('firstAttempt', () => {
  it('starts on the primary with a key of its provider', () => {
    const d = firstAttempt(ctx('smart'));
    assert.equal(d.kind, 'attempt');
    if (d.kind !== 'attempt') return;
    assert.equal(d.target.id, 'openai/gpt-4o');
    assert.ok(['k1', 'k2', 'k3'].includes(d.keyId ?? ''));
    assert.equal(d.lane, 'main');
    assert.deepEqual(d.probe, { target: false, key: false });
    assert.deepEqual(d.skipped, []);
  });

  it('load-balances the primary group by weight (seeded, within 2%)', () => {
    const random = seededRandom(99);
    let openai = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const d = firstAttempt(ctx('lb', { random }));
      if (d.kind === 'attempt' && d.target.id === 'openai/gpt-4o') openai++;
    }
    assert.ok(Math.abs(openai / n - 0.5) < 0.02, `${openai / n}`);
  });

  it('skips an open breaker at no cost and says so', () => {
    const health: HealthView = { ...noHealth, targets: { 'openai/gpt-4o': openBreaker(T - 1) } };
    const d = firstAttempt(ctx('smart', { health }));
    assert.equal(d.kind, 'attempt');
    if (d.kind !== 'attempt') return;
    assert.equal(d.target.id, 'anthropic/claude-sonnet');
    assert.deepEqual(d.skipped.map((s) => [s.target.id, s.why]), [['openai/gpt-4o', 'breaker_open']]);
  });

  it('sends a half-open probe once openMs has passed', () => {
    const policy = resolvePolicy('smart', config);
    const health: HealthView = { ...noHealth, targets: { 'openai/gpt-4o': openBreaker(T - policy.breaker.openMs) } };
    const d = firstAttempt(ctx('smart', { health }));
    assert.equal(d.kind, 'attempt');
    if (d.kind !== 'attempt') return;
    assert.equal(d.target.id, 'openai/gpt-4o');
    assert.deepEqual(d.probe, { target: true, key: false });
    // once the probe slot is taken, the next request skips it again
    const claimed: HealthView = { ...noHealth, targets: { 'openai/gpt-4o': claimProbe(openBreaker(T - policy.breaker.openMs), T, policy.breaker) } };
    const next = firstAttempt(ctx('smart', { health: claimed }));
    assert.equal(next.kind === 'attempt' && next.target.id, 'anthropic/claude-sonnet');
  });

  it('every breaker open → 503 no_healthy_upstream', () => {
    const open = openBreaker(T - 1);
    const health: HealthView = { ...noHealth, targets: { 'openai/gpt-4o': open, 'anthropic/claude-sonnet': open, 'azure/gpt-4o': open } };
    const d = firstAttempt(ctx('smart', { health }));
    assert.equal(d.kind, 'fail');
    if (d.kind !== 'fail') return;
    assert.equal(d.status, 503);
    assert.equal(d.code, 'no_healthy_upstream');
    assert.equal(d.skipped.length, 3);
  });

  it('every key of every target cooling on 429 → 429 with the earliest comeback', () => {
    const rl = (until: number) => ({ until, reason: 'rate_limited' as const });
    const health: HealthView = {
      targets: {},
      keys: { cooldowns: { 'openai:k1': rl(T + 9_000), 'openai:k2': rl(T + 7_000), 'openai:k3': rl(T + 8_000), 'anthropic:an1': rl(T + 4_000), 'azure:az1': rl(T + 6_000) }, breakers: {} },
    };
    const d = firstAttempt(ctx('smart', { health }));
    assert.equal(d.kind, 'fail');
    if (d.kind !== 'fail') return;
    assert.equal(d.status, 429);
    assert.equal(d.retryAfterMs, 4_000);
  });

  it('past the deadline → 504 without trying', () => {
    const d = firstAttempt(ctx('smart', { deadline: T }));
    assert.equal(d.kind, 'fail');
    if (d.kind === 'fail') assert.deepEqual([d.status, d.code], [504, 'deadline_exceeded']);
  });

  it('an empty chain (nothing resolved) → 503', () => {
    const d = firstAttempt(ctx('no-such-model'));
    assert.equal(d.kind === 'fail' && d.status, 503);
  });
});

describe('decideNext: every failure class under the default retry policy (keyless target)', () => {
  // [class, retries on the same target, what happens once they are spent]
  const table: [RetryableClass, number, 'fallback' | 'fail', string][] = [
    ['rate_limited', 2, 'fallback', 'retries_exhausted'],
    ['overloaded', 2, 'fallback', 'retries_exhausted'],
    ['server', 2, 'fallback', 'retries_exhausted'],
    ['network', 2, 'fallback', 'retries_exhausted'],
    ['timeout', 1, 'fallback', 'retries_exhausted'],
    ['auth', 0, 'fallback', 'not_retryable'],
    ['client', 0, 'fail', 'invalid_request'],
    ['context_length', 0, 'fallback', 'context_length'],
    ['content_filter', 0, 'fallback', 'content_filter'],
  ];
  for (const [cls, retries, after, detail] of table) {
    it(`${cls}: ${retries} retr${retries === 1 ? 'y' : 'ies'}, then ${after} (${detail})`, () => {
      const attempts: AttemptRecord[] = [];
      let kind: AttemptRecord['kind'] = 'first';
      for (let i = 0; ; i++) {
        attempts.push(failed('solo/solo-1', cls, { kind }));
        const d = decide('single', attempts, { random: fixedRandom(0.5) });
        if (d.kind !== 'retry') {
          assert.equal(i, retries, `retries made: ${i}`);
          assert.equal(d.kind, after);
          if (d.kind === 'fallback') {
            assert.equal(d.reason, detail);
            assert.equal(d.failure, cls);
          }
          if (d.kind === 'fail') assert.equal(d.code, detail);
          break;
        }
        assert.equal(d.target.id, 'solo/solo-1');
        assert.equal(d.failure, cls);
        const rule = resolvePolicy('single', config).retry[cls];
        assert.equal(d.delayMs, Math.floor(0.5 * (Math.min(rule.maxBackoffMs, rule.initialBackoffMs * 2 ** i) + 1)), 'full jitter at the midpoint');
        kind = 'retry';
      }
    });
  }

  it('context_length falls over to the context chain, content_filter to the content chain', () => {
    const c = expectKind(decide('single', [failed('solo/solo-1', 'context_length')]), 'fallback');
    assert.deepEqual([c.target.id, c.lane], ['solo/solo-big', 'context']);
    const f = expectKind(decide('single', [failed('solo/solo-1', 'content_filter')]), 'fallback');
    assert.deepEqual([f.target.id, f.lane], ['solo/solo-lenient', 'content']);
  });

  it('retry budgets are per target: a fallback target gets its own', () => {
    const attempts = [
      failed('solo/solo-1', 'server'),
      failed('solo/solo-1', 'server', { kind: 'retry' }),
      failed('solo/solo-1', 'server', { kind: 'retry' }),
      failed('solo/solo-2', 'server', { kind: 'fallback' }),
    ];
    const d = expectKind(decide('single', attempts), 'retry');
    assert.equal(d.target.id, 'solo/solo-2');
  });

  it('retries of one class count against another: a timeout after two server retries is not retried', () => {
    const attempts = [failed('solo/solo-1', 'server'), failed('solo/solo-1', 'timeout', { kind: 'retry' })];
    const d = expectKind(decide('single', attempts), 'fallback');
    assert.equal(d.reason, 'retries_exhausted');
  });

  it('a class the alias allows more retries for is retried more', () => {
    const policy = resolvePolicy('single', { ...config, routing: routingSchema.parse({ retry: { auth: { attempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 } } }) });
    const d = decide('single', [failed('solo/solo-1', 'auth')], { policy });
    expectKind(d, 'retry');
  });
});

describe('decideNext: wait hints and the deadline', () => {
  it('honours a wait hint that fits before the deadline', () => {
    const d = expectKind(decide('single', [failed('solo/solo-1', 'overloaded', { waitMs: 3_000 })]), 'retry');
    assert.equal(d.delayMs, 3_000);
  });

  it('a wait hint of 0 retries at once', () => {
    const d = expectKind(decide('single', [failed('solo/solo-1', 'overloaded', { waitMs: 0 })]), 'retry');
    assert.equal(d.delayMs, 0);
  });

  it('a wait hint longer than the deadline → immediate fallback', () => {
    const d = expectKind(decide('single', [failed('solo/solo-1', 'rate_limited', { waitMs: 61_000 })]), 'fallback');
    assert.deepEqual([d.target.id, d.reason], ['solo/solo-2', 'wait_past_deadline']);
  });

  it('a wait hint ending exactly at the deadline is past it', () => {
    const d = expectKind(decide('single', [failed('solo/solo-1', 'overloaded', { waitMs: 60_000 })]), 'fallback');
    assert.equal(d.reason, 'wait_past_deadline');
  });

  it('a backoff that would cross the deadline → immediate fallback', () => {
    const d = expectKind(decide('single', [failed('solo/solo-1', 'server')], { deadline: T + 100, random: fixedRandom(0.9999) }), 'fallback');
    assert.equal(d.reason, 'wait_past_deadline');
  });

  it('deadline passed → 504 with the attempts listed', () => {
    const attempts = [failed('solo/solo-1', 'server')];
    const d = expectKind(decide('single', attempts, { now: T + 60_000 }), 'fail');
    assert.deepEqual([d.status, d.code, d.failure], [504, 'deadline_exceeded', 'deadline_exceeded']);
    assert.deepEqual(d.attemptsSummary, attempts);
  });

  it('a deadline_exceeded failure is final', () => {
    const d = expectKind(decide('single', [failed('solo/solo-1', 'deadline_exceeded')]), 'fail');
    assert.equal(d.status, 504);
  });

  it('never schedules a retry at or past the deadline (randomised)', () => {
    const random = seededRandom(2024);
    const classes: FailureClass[] = ['rate_limited', 'overloaded', 'server', 'network', 'timeout'];
    for (let i = 0; i < 2_000; i++) {
      const cls = classes[Math.floor(random() * classes.length)] ?? 'server';
      const remaining = Math.floor(random() * 3_000);
      const waitMs = random() < 0.5 ? Math.floor(random() * 5_000) : undefined;
      const d = decide('smart', [failed('openai/gpt-4o', cls, waitMs === undefined ? { keyId: 'k1' } : { keyId: 'k1', waitMs })], { deadline: T + remaining, random });
      if (d.kind === 'retry') assert.ok(T + d.delayMs < T + remaining, JSON.stringify(d));
    }
  });
});

describe('decideNext: keys', () => {
  it('429 on one key of three → rotate at once, the key cools until its reset', () => {
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'rate_limited', { keyId: 'k1', waitMs: 20_000 })]), 'rotate');
    assert.equal(d.target.id, 'openai/gpt-4o');
    assert.notEqual(d.keyId, 'k1');
    assert.deepEqual(d.cooldown, { key: 'openai:k1', cooldown: { until: T + 20_000, reason: 'rate_limited' } });
  });

  it('rotation spends no retry budget: after rotating through every key the retries are still there', () => {
    const cooldowns = { 'openai:k1': { until: T + 1_000, reason: 'rate_limited' as const }, 'openai:k2': { until: T + 2_000, reason: 'rate_limited' as const } };
    const health: HealthView = { targets: {}, keys: { cooldowns, breakers: {} } };
    const attempts = [
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k1', waitMs: 1_000 }),
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k2', waitMs: 2_000, kind: 'rotate' }),
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k3', waitMs: 3_000, kind: 'rotate' }),
    ];
    // All three out; the retry waits for the last key's hint (3 s), when k1 and k2 are back too.
    const d = expectKind(decide('smart', attempts, { health }), 'retry');
    assert.equal(d.delayMs, 3_000);
    assert.ok(['k1', 'k2', 'k3'].includes(d.keyId ?? ''));
  });

  it('a retry without a hint waits for the first key to come back when none is usable sooner', () => {
    const health: HealthView = { targets: {}, keys: { cooldowns: { 'azure:az1': { until: T + 10_000, reason: 'rate_limited' } }, breakers: {} } };
    const d = expectKind(decide('lb', [failed('azure/gpt-4o', 'rate_limited', { keyId: 'az1' })], { health, random: fixedRandom(0) }), 'retry');
    assert.equal(d.delayMs, resolvePolicy('lb', config).keyCooldown.rateLimitDefaultMs);
    assert.equal(d.keyId, 'az1');
  });

  it('all keys cooling and the reset past the deadline → fallback to the next provider', () => {
    const rl = (until: number) => ({ until, reason: 'rate_limited' as const });
    const health: HealthView = { targets: {}, keys: { cooldowns: { 'openai:k2': rl(T + 120_000), 'openai:k3': rl(T + 120_000) }, breakers: {} } };
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'rate_limited', { keyId: 'k1', waitMs: 120_000 })], { health }), 'fallback');
    assert.deepEqual([d.target.id, d.keyId, d.reason], ['anthropic/claude-sonnet', 'an1', 'wait_past_deadline']);
  });

  it('all keys cooling with the retry budget spent → fallback', () => {
    const rl = (until: number) => ({ until, reason: 'rate_limited' as const });
    const health: HealthView = { targets: {}, keys: { cooldowns: { 'openai:k1': rl(T + 1_000), 'openai:k2': rl(T + 1_000), 'openai:k3': rl(T + 1_000) }, breakers: {} } };
    const attempts = [
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k1' }),
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k2', kind: 'retry' }),
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k3', kind: 'retry', waitMs: 1_000 }),
    ];
    const d = expectKind(decide('smart', attempts, { health }), 'fallback');
    assert.deepEqual([d.target.id, d.reason], ['anthropic/claude-sonnet', 'retries_exhausted']);
  });

  it('401 on one key → rotate, the key out for authMs', () => {
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'auth', { keyId: 'k2' })]), 'rotate');
    assert.notEqual(d.keyId, 'k2');
    assert.deepEqual(d.cooldown, { key: 'openai:k2', cooldown: { until: T + 300_000, reason: 'auth' } });
  });

  it("401 on a provider's only key → fallback, and the key still cools", () => {
    const d = expectKind(decide('lb', [failed('azure/gpt-4o', 'auth', { keyId: 'az1' })]), 'fallback');
    assert.deepEqual([d.target.id, d.reason], ['openai/gpt-4o', 'not_retryable']);
    assert.deepEqual(d.cooldown?.cooldown, { until: T + 300_000, reason: 'auth' });
  });

  it('a server error does not cool its key and may retry on any key', () => {
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'server', { keyId: 'k1' })]), 'retry');
    assert.equal(d.cooldown, undefined);
  });

  it('a fallback target whose keys are all out is skipped and reported', () => {
    const health: HealthView = { targets: {}, keys: { cooldowns: { 'anthropic:an1': { until: T + 300_000, reason: 'auth' } }, breakers: {} } };
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'server', { keyId: 'k1', kind: 'first' }), ...retries('openai/gpt-4o', 'server', 2)], { health }), 'fallback');
    assert.equal(d.target.id, 'azure/gpt-4o');
    assert.deepEqual(d.skipped, [{ target: target('anthropic/claude-sonnet'), why: 'keys_out', rateLimited: false, availableAt: T + 300_000 }]);
  });
});

function retries(id: string, cls: FailureClass, n: number): AttemptRecord[] {
  return Array.from({ length: n }, () => failed(id, cls, { kind: 'retry' }));
}

describe('decideNext: breakers', () => {
  it('a breaker this failure just opened stops the retries: fallback at once', () => {
    const health: HealthView = { ...noHealth, targets: { 'solo/solo-1': openBreaker(T) } };
    const d = expectKind(decide('single', [failed('solo/solo-1', 'server')], { health }), 'fallback');
    assert.deepEqual([d.target.id, d.reason], ['solo/solo-2', 'breaker_open']);
  });

  it('an open fallback is skipped at no cost, the next one chosen', () => {
    const health: HealthView = { ...noHealth, targets: { 'anthropic/claude-sonnet': openBreaker(T - 10) } };
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'server', { keyId: 'k1' }), ...retries('openai/gpt-4o', 'server', 2)], { health }), 'fallback');
    assert.equal(d.target.id, 'azure/gpt-4o');
    assert.deepEqual(d.skipped.map((s) => s.why), ['breaker_open']);
  });

  it('a half-open fallback is chosen as a probe', () => {
    const policy = resolvePolicy('smart', config);
    const health: HealthView = { ...noHealth, targets: { 'anthropic/claude-sonnet': openBreaker(T - policy.breaker.openMs) } };
    const fb = expectKind(decide('smart', [failed('openai/gpt-4o', 'server'), ...retries('openai/gpt-4o', 'server', 2)], { health }), 'fallback');
    assert.equal(fb.target.id, 'anthropic/claude-sonnet');
    assert.deepEqual(fb.probe, { target: true, key: false });
  });
});

describe('decideNext: chains', () => {
  it('a load-balanced group tries its other member before the fallbacks', () => {
    const d = expectKind(decide('lb', [failed('openai/gpt-4o', 'server'), ...retries('openai/gpt-4o', 'server', 2)]), 'fallback');
    assert.equal(d.target.id, 'azure/gpt-4o');
    const next = expectKind(decide('lb', [failed('openai/gpt-4o', 'server'), ...retries('openai/gpt-4o', 'server', 2), failed('azure/gpt-4o', 'network', { kind: 'fallback' }), ...retries('azure/gpt-4o', 'network', 2)]), 'fallback');
    assert.equal(next.target.id, 'anthropic/claude-sonnet');
  });

  it('context_length → the context chain, and later failures stay in it', () => {
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'context_length', { keyId: 'k1' })]), 'fallback');
    assert.deepEqual([d.target.id, d.lane, d.reason], ['anthropic/claude-long', 'context', 'context_length']);
    const attempts = [failed('openai/gpt-4o', 'context_length'), failed('anthropic/claude-long', 'server', { lane: 'context', kind: 'fallback' }), ...retries('anthropic/claude-long', 'server', 2).map((a) => ({ ...a, lane: 'context' as Lane }))];
    const end = expectKind(decide('smart', attempts), 'fail');
    assert.deepEqual([end.status, end.code], [502, 'upstream_error'], 'the context chain is exhausted; the main chain is not resumed');
  });

  it('context_length without a context chain is final', () => {
    const d = expectKind(decide('lb', [failed('openai/gpt-4o', 'context_length')]), 'fail');
    assert.deepEqual([d.status, d.code, d.failure], [400, 'context_length_exceeded', 'context_length']);
  });

  it('content_filter without a content chain is final', () => {
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'content_filter')]), 'fail');
    assert.deepEqual([d.status, d.code], [400, 'content_filter']);
  });

  it('a client fault fails with no fallback, even with a chain', () => {
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'client', { keyId: 'k1' })]), 'fail');
    assert.deepEqual([d.status, d.failure, d.skipped], [400, 'client', []]);
  });

  it('cancelled is final (499)', () => {
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'cancelled')]), 'fail');
    assert.equal(d.status, 499);
  });

  it('noFallback: only the primary, then fail', () => {
    const chain = expandChain({ model: 'smart', noFallback: true }, config);
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'server'), ...retries('openai/gpt-4o', 'server', 2)], { chain }), 'fail');
    assert.equal(d.status, 502);
  });

  it('a decision with no failed attempt is an internal error, not a guess', () => {
    const d = expectKind(decideNext({ ...ctx('smart'), attempts: [] }), 'fail');
    assert.equal(d.status, 500);
  });
});

describe('decideNext: mid-stream', () => {
  it("continue: no wait on the same target — the next target continues the answer", () => {
    const d = expectKind(decide('single', [failed('solo/solo-1', 'network', { streamed: true })]), 'fallback');
    assert.deepEqual([d.target.id, d.reason, d.continuation], ['solo/solo-2', 'mid_stream', true]);
  });

  it('continue: a 429 mid-stream still rotates keys, as a continuation', () => {
    const d = expectKind(decide('smart', [failed('openai/gpt-4o', 'rate_limited', { keyId: 'k1', streamed: true })]), 'rotate');
    assert.equal(d.continuation, true);
  });

  it('error: the stream ends with an error', () => {
    const d = expectKind(decide('strict', [failed('solo/solo-1', 'timeout', { streamed: true })]), 'fail');
    assert.deepEqual([d.status, d.failure], [504, 'timeout']);
  });

  it('a failure before any token reached the client is transparent (no continuation)', () => {
    const d = expectKind(decide('single', [failed('solo/solo-1', 'auth')]), 'fallback');
    assert.equal(d.continuation, false);
  });
});

describe('decideNext: when every target failed', () => {
  it('all rate limited → 429 with the earliest retry-after', () => {
    const policy = resolvePolicy('smart', { ...config, routing: routingSchema.parse({ retry: { rate_limited: { attempts: 0 } } }) });
    const rl = (until: number) => ({ until, reason: 'rate_limited' as const });
    const health: HealthView = {
      targets: {},
      keys: { cooldowns: { 'openai:k1': rl(T + 30_000), 'openai:k2': rl(T + 25_000), 'openai:k3': rl(T + 40_000), 'anthropic:an1': rl(T + 12_000) }, breakers: {} },
    };
    const attempts = [
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k1', waitMs: 30_000, at: T - 500 }),
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k2', waitMs: 25_000, kind: 'rotate', at: T - 400 }),
      failed('openai/gpt-4o', 'rate_limited', { keyId: 'k3', waitMs: 40_000, kind: 'rotate', at: T - 300 }),
      failed('anthropic/claude-sonnet', 'rate_limited', { keyId: 'an1', waitMs: 12_000, kind: 'fallback', at: T - 200 }),
      failed('azure/gpt-4o', 'rate_limited', { keyId: 'az1', waitMs: 15_000, kind: 'fallback' }),
    ];
    const d = expectKind(decide('smart', attempts, { health, policy }), 'fail');
    assert.deepEqual([d.status, d.code, d.failure], [429, 'rate_limit_exceeded', 'rate_limited']);
    assert.equal(d.retryAfterMs, 11_800, 'anthropic comes back first: 12 s after T - 200');
    assert.equal(d.attemptsSummary.length, 5);
  });

  it('all overloaded → 503; all timed out → 504; all network → 502', () => {
    const all = (cls: FailureClass) => [failed('solo/solo-1', cls), ...retries('solo/solo-1', cls, 2), failed('solo/solo-2', cls, { kind: 'fallback' }), ...retries('solo/solo-2', cls, 2)];
    assert.equal(expectKind(decide('single', all('overloaded')), 'fail').status, 503);
    assert.equal(expectKind(decide('single', all('timeout')), 'fail').status, 504);
    assert.deepEqual(
      (({ status, code }) => [status, code])(expectKind(decide('single', all('network')), 'fail')),
      [502, 'upstream_unreachable'],
    );
  });

  it('rate limited and overloaded mixed → 503; anything else mixed → 502', () => {
    const a = [failed('solo/solo-1', 'overloaded'), ...retries('solo/solo-1', 'overloaded', 2), failed('solo/solo-2', 'rate_limited', { kind: 'fallback', waitMs: 90_000 })];
    assert.equal(expectKind(decide('single', a), 'fail').status, 503);
    const b = [failed('solo/solo-1', 'server'), ...retries('solo/solo-1', 'server', 2), failed('solo/solo-2', 'auth', { kind: 'fallback' })];
    assert.deepEqual((({ status, code }) => [status, code])(expectKind(decide('single', b), 'fail')), [502, 'upstream_error']);
  });
});

describe('hedgeTarget', () => {
  it('names the next target for an alias that hedges', () => {
    const inFlight: AttemptRecord = { target: target('solo/solo-1'), lane: 'main', kind: 'first', at: T };
    const h = hedgeTarget({ ...ctx('hedged'), attempts: [inFlight] });
    assert.equal(h?.target.id, 'solo/solo-2');
    assert.equal(h?.kind, 'hedge');
  });

  it('nothing for an alias that does not hedge, or when nothing is left', () => {
    const inFlight: AttemptRecord = { target: target('solo/solo-1'), lane: 'main', kind: 'first', at: T };
    assert.equal(hedgeTarget({ ...ctx('single'), attempts: [inFlight] }), undefined);
    const both = [inFlight, { ...inFlight, target: target('solo/solo-2'), kind: 'hedge' as const }];
    assert.equal(hedgeTarget({ ...ctx('hedged'), attempts: both }), undefined);
  });
});
