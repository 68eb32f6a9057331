import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  aliasSchema,
  defaultBreaker,
  defaultKeyCooldown,
  defaultRetry,
  defaultTimeouts,
  modelsSchema,
  resolvedPolicySchema,
  resolvePolicy,
  routingSchema,
  type RetryableClass,
} from './policy-schema.ts';

describe('routing defaults', () => {
  it('an empty routing block parses to the built-in defaults', () => {
    const routing = routingSchema.parse({});
    assert.deepEqual(routing.retry, defaultRetry);
    assert.deepEqual(routing.timeouts, defaultTimeouts);
    assert.deepEqual(routing.breaker, defaultBreaker);
    assert.deepEqual(routing.keyCooldown, defaultKeyCooldown);
    assert.equal(routing.midStream, 'continue');
    assert.equal(routing.hedge, undefined);
  });

  const retries: [RetryableClass, number][] = [
    ['rate_limited', 2],
    ['overloaded', 2],
    ['server', 2],
    ['network', 2],
    ['timeout', 1],
    ['auth', 0],
    ['client', 0],
    ['context_length', 0],
    ['content_filter', 0],
  ];
  for (const [cls, attempts] of retries) {
    it(`${cls} retries ${attempts} time(s) on the same target by default`, () => {
      assert.equal(defaultRetry[cls].attempts, attempts);
      assert.ok(defaultRetry[cls].initialBackoffMs <= defaultRetry[cls].maxBackoffMs);
    });
  }

  it('key cooldown for a bad key is five minutes', () => {
    assert.equal(defaultKeyCooldown.authMs, 300_000);
  });

  it('one overridden field keeps the other defaults of its class and of every other class', () => {
    const routing = routingSchema.parse({ retry: { server: { attempts: 5 } }, timeouts: { connectMs: 2_000 }, breaker: { openMs: 5_000 } });
    assert.deepEqual(routing.retry.server, { ...defaultRetry.server, attempts: 5 });
    assert.deepEqual(routing.retry.network, defaultRetry.network);
    assert.deepEqual(routing.timeouts, { ...defaultTimeouts, connectMs: 2_000 });
    assert.deepEqual(routing.breaker, { ...defaultBreaker, openMs: 5_000 });
  });

  it('rejects retry rules for classes that are always final', () => {
    assert.equal(routingSchema.safeParse({ retry: { cancelled: { attempts: 1 } } }).success, false);
    assert.equal(routingSchema.safeParse({ retry: { deadline_exceeded: { attempts: 1 } } }).success, false);
  });

  it('rejects a misspelt key and names it', () => {
    const result = routingSchema.safeParse({ breaker: { openMS: 1 } });
    assert.equal(result.success, false);
    assert.match(JSON.stringify(result.error?.issues), /openMS/);
  });

  it('rejects a failure rate above 1, a negative attempt count and an unknown midStream mode', () => {
    assert.equal(routingSchema.safeParse({ breaker: { failureRate: 1.5 } }).success, false);
    assert.equal(routingSchema.safeParse({ retry: { server: { attempts: -1 } } }).success, false);
    assert.equal(routingSchema.safeParse({ midStream: 'retry' }).success, false);
  });
});

describe('alias schema', () => {
  it('accepts "provider/model" shorthand targets with weight 1 and defaults fallbacks to none', () => {
    const alias = aliasSchema.parse({ targets: ['openai/gpt-4o', { model: 'azure/gpt-4o', weight: 3 }] });
    assert.deepEqual(alias.targets, [
      { model: 'openai/gpt-4o', weight: 1 },
      { model: 'azure/gpt-4o', weight: 3 },
    ]);
    assert.deepEqual(alias.fallbacks, []);
    assert.equal(alias.contextFallbacks, undefined);
  });

  it('needs at least one target and positive weights', () => {
    assert.equal(aliasSchema.safeParse({ targets: [] }).success, false);
    assert.equal(aliasSchema.safeParse({ targets: [{ model: 'a/b', weight: 0 }] }).success, false);
  });

  it('rejects an unknown key (a typo such as "fallback")', () => {
    assert.equal(aliasSchema.safeParse({ targets: ['a/b'], fallback: ['c/d'] }).success, false);
  });

  it('parses a models map', () => {
    const models = modelsSchema.parse({ smart: { targets: ['openai/gpt-4o'], fallbacks: ['anthropic/claude'], hedge: { afterMs: 800 } } });
    assert.equal(models.smart?.hedge?.afterMs, 800);
  });
});

describe('resolvePolicy', () => {
  const routing = routingSchema.parse({ retry: { server: { attempts: 3 } }, midStream: 'continue', hedge: { afterMs: 2_000 }, keyCooldown: { authMs: 60_000 } });
  const models = modelsSchema.parse({
    strict: {
      targets: ['openai/gpt-4o'],
      retry: { server: { maxBackoffMs: 1_000 }, timeout: { attempts: 0 } },
      timeouts: { firstByteMs: 5_000 },
      breaker: { consecutiveFailures: 2 },
      midStream: 'error',
      hedge: { afterMs: 500 },
    },
    plain: { targets: ['openai/gpt-4o'] },
  });

  it('gives a plain model (no alias) the routing defaults', () => {
    const policy = resolvePolicy(undefined, { routing, models });
    assert.equal(policy.retry.server.attempts, 3);
    assert.equal(policy.midStream, 'continue');
    assert.deepEqual(policy.hedge, { afterMs: 2_000 });
    assert.equal(policy.keyCooldown.authMs, 60_000);
  });

  it('gives an unknown alias the routing defaults', () => {
    assert.deepEqual(resolvePolicy('nope', { routing, models }), resolvePolicy(undefined, { routing, models }));
  });

  it('lays the alias over the defaults field by field', () => {
    const policy = resolvePolicy('strict', { routing, models });
    assert.deepEqual(policy.retry.server, { attempts: 3, initialBackoffMs: defaultRetry.server.initialBackoffMs, maxBackoffMs: 1_000 });
    assert.equal(policy.retry.timeout.attempts, 0);
    assert.deepEqual(policy.retry.network, defaultRetry.network);
    assert.deepEqual(policy.timeouts, { ...defaultTimeouts, firstByteMs: 5_000 });
    assert.equal(policy.breaker.consecutiveFailures, 2);
    assert.equal(policy.breaker.openMs, defaultBreaker.openMs);
    assert.equal(policy.midStream, 'error');
    assert.deepEqual(policy.hedge, { afterMs: 500 });
    assert.equal(policy.keyCooldown.authMs, 60_000, 'key cooldown is set by routing only');
  });

  it('an alias without settings inherits everything, hedge included', () => {
    const policy = resolvePolicy('plain', { routing, models });
    assert.deepEqual(policy, resolvePolicy(undefined, { routing, models }));
  });

  it('works with no routing block at all and always yields a complete, valid policy', () => {
    const policy = resolvePolicy('strict', { models });
    assert.equal(policy.retry.server.attempts, defaultRetry.server.attempts);
    assert.equal(resolvedPolicySchema.safeParse(policy).success, true);
    assert.equal(resolvedPolicySchema.safeParse(resolvePolicy(undefined, {})).success, true);
  });
});
