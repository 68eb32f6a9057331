// Which of a provider's keys serves the next call: weighted among the keys whose model allow-list
// admits the model, that are not cooling down and whose own breaker lets calls through. Also the
// cooldown a key earns from a failure (429 → until its reset; 401/403 → authMs).
import { z } from 'zod';
import type { FailureClass } from '#libs/contracts/envelope.ts';
import { matchesModel } from '#libs/providers/model-pattern.ts';
import { canPass, closedBreaker, type BreakerState } from './breaker.ts';
import type { BreakerPolicy, KeyCooldownPolicy } from './policy-schema.ts';
import type { Random } from './random-source.ts';
import { weightedPick } from './weighted-pick.ts';

export const keyCooldownEntrySchema = z.object({
  /** Epoch ms the key may be used again. */
  until: z.number(),
  reason: z.enum(['rate_limited', 'auth']),
});
export type KeyCooldown = z.infer<typeof keyCooldownEntrySchema>;

/** A provider key as config holds it; the secret itself is never needed here. */
export interface PoolKey {
  id?: string;
  weight: number;
  models?: string[];
}

/** Shared health of keys, indexed by keyHealthId(provider, keyId). */
export interface KeyHealth {
  cooldowns: Readonly<Record<string, KeyCooldown>>;
  breakers: Readonly<Record<string, BreakerState>>;
}

/** The id shown in logs and results: the configured id, else "<provider>-key-<index>" as the adapter names it. */
export function keyIdOf(provider: string, key: PoolKey, index: number): string {
  return key.id ?? `${provider}-key-${index}`;
}

/** Key ids are only unique within a provider, so shared health is indexed by both. */
export function keyHealthId(provider: string, keyId: string): string {
  return `${provider}:${keyId}`;
}

/** How long a failure takes its key out of rotation; undefined when the key is not at fault. */
export function cooldownFor(failure: FailureClass, waitMs: number | undefined, policy: KeyCooldownPolicy, now: number): KeyCooldown | undefined {
  if (failure === 'rate_limited') return { until: now + (waitMs ?? policy.rateLimitDefaultMs), reason: 'rate_limited' };
  if (failure === 'auth') return { until: now + policy.authMs, reason: 'auth' };
  return undefined;
}

export type KeyPick =
  /** keyId is undefined for a provider that needs no key (the mock). */
  | { ok: true; keyId: string | undefined; probe: boolean }
  | {
      ok: false;
      /** no_key_for_model: no key's allow-list admits the model; otherwise every admitting key is out. */
      why: 'no_key_for_model' | 'keys_out';
      /** When the first cooling key comes back (absent when a key breaker, not a cooldown, holds them). */
      availableAt?: number;
      /** True when every admitting key is out because of a 429 cooldown. */
      rateLimited: boolean;
    };

export interface PickKeyInput {
  provider: string;
  /** The model as the provider knows it (without the "provider/" prefix). */
  model: string;
  keys: readonly PoolKey[];
  now: number;
  health: KeyHealth;
  breakerPolicy: BreakerPolicy;
  random: Random;
}

export function pickKey(input: PickKeyInput): KeyPick {
  const { provider, model, keys, now, health, breakerPolicy } = input;
  if (keys.length === 0) return { ok: true, keyId: undefined, probe: false };
  const admitting = keys.map((key, index) => ({ key, id: keyIdOf(provider, key, index) })).filter(({ key }) => !key.models || matchesModel(key.models, model));
  if (admitting.length === 0) return { ok: false, why: 'no_key_for_model', rateLimited: false };

  const usable = (id: string): { ok: boolean; probe: boolean } => {
    const cooldown = health.cooldowns[keyHealthId(provider, id)];
    if (cooldown && cooldown.until > now) return { ok: false, probe: false };
    const pass = canPass(health.breakers[keyHealthId(provider, id)] ?? closedBreaker, now, breakerPolicy);
    return { ok: pass.allowed, probe: pass.probe };
  };
  const chosen = weightedPick(admitting, ({ key }) => key.weight, input.random, ({ id }) => usable(id).ok);
  if (chosen) return { ok: true, keyId: chosen.id, probe: usable(chosen.id).probe };

  const cooldowns = admitting.map(({ id }) => health.cooldowns[keyHealthId(provider, id)]).filter((c) => c !== undefined && c.until > now);
  const rateLimited = cooldowns.length === admitting.length && cooldowns.every((c) => c?.reason === 'rate_limited');
  const untils = cooldowns.map((c) => c?.until ?? Infinity);
  const out: KeyPick = { ok: false, why: 'keys_out', rateLimited };
  if (untils.length > 0) out.availableAt = Math.min(...untils);
  return out;
}
