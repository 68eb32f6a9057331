// This worker's copy of the shared provider health: breakers per target and per key, and key
// cooldowns. Decisions read it synchronously (the hot path never waits on Redis); every change
// that matters to other workers is written through to the store and announced, and what others
// announce is merged in at once. A periodic reload repairs anything missed (a Redis restart).
import type { FailureClass } from '#libs/contracts/envelope.ts';
import { breakerStateSchema, claimProbe, closedBreaker, mergeBreakers, recordOutcome, type BreakerState } from '#libs/routing/breaker.ts';
import type { CooldownEffect, HealthView } from '#libs/routing/decide.ts';
import { keyCooldownEntrySchema, type KeyCooldown } from '#libs/routing/key-pool.ts';
import type { BreakerPolicy } from '#libs/routing/policy-schema.ts';
import type { HealthUpdate, Store } from '#libs/store/store.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import type { Metrics } from '#libs/telemetry/metrics.ts';

const reloadEveryMs = 5_000;
/** Window counts are shared at most this often per breaker; state changes go out at once. */
const countsEveryMs = 1_000;

export class HealthCache {
  private readonly targets: Record<string, BreakerState> = {};
  private readonly keyBreakers: Record<string, BreakerState> = {};
  private readonly cooldowns: Record<string, KeyCooldown> = {};
  private readonly lastShared = new Map<string, number>();
  private readonly store: Store;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(store: Store, log: Logger, metrics: Metrics) {
    this.store = store;
    this.log = log;
    this.metrics = metrics;
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.store.subscribeHealth((update) => this.merge(update));
    await this.reload();
    this.timer = setInterval(() => {
      this.reload().catch((err: unknown) => this.log.warn({ err }, 'health reload failed'));
    }, reloadEveryMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.unsubscribe?.();
  }

  view(): HealthView {
    return { targets: this.targets, keys: { cooldowns: this.cooldowns, breakers: this.keyBreakers } };
  }

  /** Records an attempt's outcome on its target's and its key's breakers. */
  record(target: string, key: string | undefined, outcome: 'success' | FailureClass, probe: { target: boolean; key: boolean }, policy: BreakerPolicy, now: number): void {
    this.update('target', target, (s) => recordOutcome(s, outcome, now, policy, probe.target), now);
    if (key) this.update('key', key, (s) => recordOutcome(s, outcome, now, policy, probe.key), now);
  }

  /** Takes the half-open probe slots a decision said this call is. */
  claimProbes(target: string, key: string | undefined, probe: { target: boolean; key: boolean }, policy: BreakerPolicy, now: number): void {
    if (probe.target) this.update('target', target, (s) => claimProbe(s, now, policy), now);
    if (probe.key && key) this.update('key', key, (s) => claimProbe(s, now, policy), now);
  }

  applyCooldown(effect: CooldownEffect): void {
    this.cooldowns[effect.key] = effect.cooldown;
    this.metrics.keyCooldowns.inc({ key: effect.key, reason: effect.cooldown.reason });
    this.log.warn({ key: effect.key, reason: effect.cooldown.reason, until: new Date(effect.cooldown.until).toISOString() }, 'key taken out of rotation');
    this.share({ kind: 'cooldown', id: effect.key, value: effect.cooldown });
  }

  private update(kind: 'target' | 'key', id: string, change: (s: BreakerState) => BreakerState, now: number): void {
    const map = kind === 'target' ? this.targets : this.keyBreakers;
    const before = map[id] ?? closedBreaker;
    const after = change(before);
    map[id] = after;
    const slot = `${kind}:${id}`;
    if (after.state !== before.state) {
      this.noteState(kind, id, before.state, after.state);
      this.lastShared.set(slot, now);
      this.share({ kind, id, value: after });
    } else if (now - (this.lastShared.get(slot) ?? 0) >= countsEveryMs) {
      this.lastShared.set(slot, now);
      this.share({ kind, id, value: after });
    }
  }

  private share(update: HealthUpdate): void {
    this.store.saveHealth(update).catch((err: unknown) => this.log.warn({ err, id: update.id }, 'could not share provider health'));
  }

  private merge(update: HealthUpdate): void {
    if (update.kind === 'cooldown') {
      const parsed = keyCooldownEntrySchema.safeParse(update.value);
      if (!parsed.success) return;
      const current = this.cooldowns[update.id];
      if (!current || parsed.data.until > current.until) this.cooldowns[update.id] = parsed.data;
      return;
    }
    const parsed = breakerStateSchema.safeParse(update.value);
    if (!parsed.success) return;
    const map = update.kind === 'target' ? this.targets : this.keyBreakers;
    const before = map[update.id] ?? closedBreaker;
    const after = mergeBreakers(before, parsed.data);
    map[update.id] = after;
    if (after.state !== before.state) this.noteState(update.kind, update.id, before.state, after.state);
  }

  private noteState(kind: 'target' | 'key', id: string, from: string, to: string): void {
    for (const state of ['closed', 'open', 'half_open']) this.metrics.breakerState.set({ kind, id, state }, state === to ? 1 : 0);
    this.log.warn({ breaker: kind, id, from, to }, `circuit breaker ${to}`);
  }

  private async reload(): Promise<void> {
    for (const update of await this.store.loadHealth()) this.merge(update);
  }
}
