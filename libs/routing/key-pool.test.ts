import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FailureClass } from '#libs/contracts/envelope.ts';
import { claimProbe, closedBreaker, recordFailure, type BreakerState } from './breaker.ts';
import { cooldownFor, keyHealthId, keyIdOf, pickKey, type KeyHealth, type PoolKey } from './key-pool.ts';
import { defaultBreaker, defaultKeyCooldown } from './policy-schema.ts';
import { fixedRandom, seededRandom } from './random-source.ts';

const now = 1_000_000;
const keys: PoolKey[] = [
  { id: 'k1', weight: 1 },
  { id: 'k2', weight: 1 },
  { id: 'k3', weight: 2, models: ['gpt-4o*'] },
];
const noHealth: KeyHealth = { cooldowns: {}, breakers: {} };

function pick(health: KeyHealth = noHealth, model = 'gpt-4o', random = seededRandom(1), list = keys, at = now) {
  return pickKey({ provider: 'openai', model, keys: list, now: at, health, breakerPolicy: defaultBreaker, random });
}

function openBreaker(at: number): BreakerState {
  let s = closedBreaker;
  for (let i = 0; i < defaultBreaker.consecutiveFailures; i++) s = recordFailure(s, at, defaultBreaker);
  return s;
}

describe('cooldownFor', () => {
  it('429 with a reset hint cools the key until the reset', () => {
    assert.deepEqual(cooldownFor('rate_limited', 12_000, defaultKeyCooldown, now), { until: now + 12_000, reason: 'rate_limited' });
  });
  it('429 without a hint cools the key for the default', () => {
    assert.deepEqual(cooldownFor('rate_limited', undefined, defaultKeyCooldown, now), { until: now + defaultKeyCooldown.rateLimitDefaultMs, reason: 'rate_limited' });
  });
  it('401/403 takes the key out for authMs whatever the hint', () => {
    assert.deepEqual(cooldownFor('auth', 1, defaultKeyCooldown, now), { until: now + 300_000, reason: 'auth' });
  });
  const notTheKey: FailureClass[] = ['server', 'overloaded', 'network', 'timeout', 'client', 'context_length', 'content_filter', 'cancelled', 'deadline_exceeded', 'internal'];
  for (const cls of notTheKey) {
    it(`${cls} does not cool the key`, () => assert.equal(cooldownFor(cls, 5_000, defaultKeyCooldown, now), undefined));
  }
});

describe('pickKey', () => {
  it('names keys without an id the way the adapter does', () => {
    assert.equal(keyIdOf('openai', { weight: 1 }, 2), 'openai-key-2');
    assert.equal(keyIdOf('openai', { id: 'prod', weight: 1 }, 2), 'prod');
    assert.equal(keyHealthId('openai', 'prod'), 'openai:prod');
  });

  it('a provider with no keys (the mock) needs none', () => {
    assert.deepEqual(pick(noHealth, 'gpt-4o', seededRandom(1), []), { ok: true, keyId: undefined, probe: false });
  });

  it('weights keys whose allow-list admits the model', () => {
    const random = seededRandom(5);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40_000; i++) {
      const p = pick(noHealth, 'gpt-4o', random);
      assert.ok(p.ok);
      if (p.ok) counts[p.keyId ?? ''] = (counts[p.keyId ?? ''] ?? 0) + 1;
    }
    assert.ok(Math.abs((counts.k3 ?? 0) / 40_000 - 0.5) < 0.015, JSON.stringify(counts));
    assert.ok(Math.abs((counts.k1 ?? 0) / 40_000 - 0.25) < 0.015, JSON.stringify(counts));
  });

  it('never picks a key whose allow-list excludes the model', () => {
    const random = seededRandom(9);
    for (let i = 0; i < 1_000; i++) {
      const p = pick(noHealth, 'claude-3', random);
      assert.ok(p.ok && p.keyId !== 'k3');
    }
  });

  it('no key admits the model → no_key_for_model', () => {
    const only = [{ id: 'k3', weight: 1, models: ['gpt-4o'] }];
    assert.deepEqual(pick(noHealth, 'o3', seededRandom(1), only), { ok: false, why: 'no_key_for_model', rateLimited: false });
  });

  it('skips cooling keys and uses them again once the cooldown ends', () => {
    const health: KeyHealth = {
      cooldowns: { 'openai:k1': { until: now + 1_000, reason: 'rate_limited' }, 'openai:k3': { until: now + 5_000, reason: 'auth' } },
      breakers: {},
    };
    for (let i = 0; i < 20; i++) {
      const p = pick(health, 'gpt-4o', fixedRandom(i / 20));
      assert.deepEqual(p, { ok: true, keyId: 'k2', probe: false });
    }
    const later = pick(health, 'gpt-4o', fixedRandom(0), keys, now + 1_000);
    assert.deepEqual(later, { ok: true, keyId: 'k1', probe: false });
  });

  it('a cooldown on another provider with the same key id does not count', () => {
    const health: KeyHealth = { cooldowns: { 'azure:k1': { until: now + 1_000, reason: 'auth' } }, breakers: {} };
    assert.deepEqual(pick(health, 'gpt-4o', fixedRandom(0)), { ok: true, keyId: 'k1', probe: false });
  });

  it('skips keys whose breaker is open; a half-open key breaker gives a probe', () => {
    const open = openBreaker(now - 1);
    const health: KeyHealth = { cooldowns: {}, breakers: { 'openai:k1': open, 'openai:k3': open } };
    assert.deepEqual(pick(health, 'gpt-4o', fixedRandom(0)), { ok: true, keyId: 'k2', probe: false });
    const afterOpen = now + defaultBreaker.openMs;
    const probing: KeyHealth = { cooldowns: {}, breakers: { 'openai:k1': open } };
    assert.deepEqual(pick(probing, 'claude', fixedRandom(0), keys, afterOpen), { ok: true, keyId: 'k1', probe: true });
    const claimed: KeyHealth = { cooldowns: {}, breakers: { 'openai:k1': claimProbe(open, afterOpen, defaultBreaker) } };
    assert.deepEqual(pick(claimed, 'claude', fixedRandom(0), keys, afterOpen + 1), { ok: true, keyId: 'k2', probe: false });
  });

  it('all keys cooling on 429 → out, rate limited, with the earliest comeback', () => {
    const health: KeyHealth = {
      cooldowns: {
        'openai:k1': { until: now + 3_000, reason: 'rate_limited' },
        'openai:k2': { until: now + 2_000, reason: 'rate_limited' },
        'openai:k3': { until: now + 9_000, reason: 'rate_limited' },
      },
      breakers: {},
    };
    assert.deepEqual(pick(health), { ok: false, why: 'keys_out', rateLimited: true, availableAt: now + 2_000 });
  });

  it('keys out for mixed reasons are not "rate limited"; breaker-only outage has no comeback time', () => {
    const mixed: KeyHealth = {
      cooldowns: { 'openai:k1': { until: now + 3_000, reason: 'rate_limited' }, 'openai:k2': { until: now + 300_000, reason: 'auth' } },
      breakers: {},
    };
    assert.deepEqual(pick(mixed, 'claude'), { ok: false, why: 'keys_out', rateLimited: false, availableAt: now + 3_000 });
    const broken: KeyHealth = { cooldowns: {}, breakers: { 'openai:k1': openBreaker(now), 'openai:k2': openBreaker(now) } };
    assert.deepEqual(pick(broken, 'claude'), { ok: false, why: 'keys_out', rateLimited: false });
  });
});
