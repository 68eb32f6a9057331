// The in-memory store of the embedded default: the same interface, gone when the process ends.
import { EventEmitter } from 'node:events';
import type { LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';
import { finalBatchStatuses, type Batch, type BatchLineOutcome, type BatchStatus } from '#libs/contracts/batch.ts';
import { feedStart, type BatchFeed, type BatchOwner, type FeedPosition } from './store.ts';
import type { Account, AccountKind, KeyRecord } from '#libs/governance/accounts.ts';
import type { BatchPage, BeginOutcome, BeginRequest, RequestStatus, HealthUpdate, IdempotencyBinding, PublishOptions, RequestState, Store, StoreOptions } from './store.ts';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

export class MemoryStore implements Store {
  readonly durable = false;
  private readonly results = new Map<string, Expiring<ResultEnvelope>>();
  private readonly states = new Map<string, Expiring<RequestStatus>>();
  private readonly claims = new Map<string, Expiring<string>>();
  private readonly replays = new Map<string, Expiring<LiveEvent[]>>();
  private readonly idempotency = new Map<string, Expiring<IdempotencyBinding>>();
  private readonly health = new Map<string, HealthUpdate>();
  private readonly accounts = new Map<string, Account>();
  private readonly claimed = new Map<string, Expiring<true>>();
  private readonly cancelled = new Map<string, Expiring<true>>();
  /** In creation order; batches stay until the process ends. */
  private readonly batches = new Map<
    string,
    { batch: Batch; owner: BatchOwner; counts: Record<BatchLineOutcome['kind'], number>; seen: Set<string>; output: string[]; errors: string[]; feed: FeedPosition | undefined }
  >();
  private readonly batchNotices = new Set<string>();
  private readonly dashboard = new Map<string, Expiring<string>>();
  private readonly live = new EventEmitter();
  private readonly opts: StoreOptions;
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: StoreOptions) {
    this.opts = opts;
    this.live.setMaxListeners(0);
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  async publish(event: LiveEvent, opts: PublishOptions): Promise<void> {
    if (opts.replay) this.appendReplay(event);
    this.live.emit(event.id, event);
    if (opts.replyTo) this.live.emit(`reply\u0000${opts.replyTo}`, event);
  }

  async finish(result: ResultEnvelope, event: LiveEvent, opts: PublishOptions): Promise<void> {
    await this.saveResult(result);
    this.states.delete(result.id);
    await this.publish(event, opts);
  }

  private appendReplay(event: LiveEvent): void {
    const entry = this.replays.get(event.id) ?? { value: [], expiresAt: 0 };
    const last = entry.value.at(-1);
    if (last && last.seq >= event.seq) throw new Error(`event ${event.seq} of ${event.id} is not after ${last.seq}`);
    entry.value.push(event);
    entry.expiresAt = Date.now() + this.opts.replayTtlSeconds * 1000;
    this.replays.set(event.id, entry);
  }

  async follow(id: string, onEvent: (event: LiveEvent) => void): Promise<() => Promise<void>> {
    this.live.on(id, onEvent);
    return async () => {
      this.live.off(id, onEvent);
    };
  }

  async subscribeInstance(instanceId: string, onEvent: (event: LiveEvent) => void): Promise<() => Promise<void>> {
    return this.follow(`reply\u0000${instanceId}`, onEvent);
  }

  async readEvents(id: string, afterSeq: number): Promise<LiveEvent[]> {
    return (fresh(this.replays, id) ?? []).filter((e) => e.seq > afterSeq);
  }

  async saveResult(result: ResultEnvelope): Promise<void> {
    this.results.set(result.id, { value: result, expiresAt: Date.now() + this.opts.resultTtlSeconds * 1000 });
  }

  async getResult(id: string): Promise<ResultEnvelope | undefined> {
    return fresh(this.results, id);
  }

  async setState(id: string, state: RequestState, owner?: string): Promise<void> {
    if (state === 'accepted' && fresh(this.states, id)) return;
    this.states.set(id, { value: owner === undefined ? { state } : { state, owner }, expiresAt: Date.now() + this.opts.resultTtlSeconds * 1000 });
  }

  async getState(id: string): Promise<RequestStatus | undefined> {
    return fresh(this.states, id);
  }

  async begin(id: string, claimant: string, leaseMs: number, request: BeginRequest = {}): Promise<BeginOutcome> {
    const result = fresh(this.results, id);
    if (result) return { result, claimed: false, cancelled: false };
    const cancelled = fresh(this.cancelled, id) === true || (request.batchId !== undefined && fresh(this.cancelled, request.batchId) === true);
    const previous = fresh(this.states, id)?.state;
    if (fresh(this.claims, id) !== undefined) return { claimed: false, previous, cancelled };
    this.claims.set(id, { value: claimant, expiresAt: Date.now() + leaseMs });
    await this.setState(id, 'running', request.owner);
    return { claimed: true, previous, cancelled };
  }

  async refuse(result: ResultEnvelope): Promise<boolean> {
    if (fresh(this.results, result.id) || fresh(this.claims, result.id) !== undefined || fresh(this.states, result.id)?.state === 'running') return false;
    await this.saveResult(result);
    return true;
  }

  async renewClaim(id: string, owner: string, leaseMs: number): Promise<boolean> {
    const holder = fresh(this.claims, id);
    if (holder !== undefined && holder !== owner) return false;
    this.claims.set(id, { value: owner, expiresAt: Date.now() + leaseMs });
    return true;
  }

  async releaseClaim(id: string, owner: string): Promise<void> {
    if (fresh(this.claims, id) === owner) this.claims.delete(id);
  }

  async bindIdempotencyKey(key: string, binding: IdempotencyBinding, ttlSeconds: number): Promise<IdempotencyBinding | undefined> {
    const existing = fresh(this.idempotency, key);
    if (existing) return existing;
    this.idempotency.set(key, { value: binding, expiresAt: Date.now() + ttlSeconds * 1000 });
    return undefined;
  }

  async updateIdempotencyKey(key: string, binding: IdempotencyBinding, ttlSeconds: number): Promise<void> {
    this.idempotency.set(key, { value: binding, expiresAt: Date.now() + ttlSeconds * 1000 });
  }

  async acceptIdempotencyKey(key: string, requestId: string, ttlSeconds: number): Promise<void> {
    const binding = fresh(this.idempotency, key);
    if (binding?.requestId === requestId && binding.state !== 'accepted') {
      this.idempotency.set(key, { value: { ...binding, state: 'accepted' }, expiresAt: Date.now() + ttlSeconds * 1000 });
    }
  }

  async releaseIdempotencyKey(key: string, requestId: string): Promise<void> {
    if (fresh(this.idempotency, key)?.requestId === requestId) this.idempotency.delete(key);
  }

  async loadHealth(): Promise<HealthUpdate[]> {
    return [...this.health.values()];
  }

  async saveHealth(update: HealthUpdate): Promise<void> {
    this.health.set(`${update.kind}:${update.id}`, update);
    this.live.emit('health\u0000', update);
  }

  async subscribeHealth(onUpdate: (update: HealthUpdate) => void): Promise<() => Promise<void>> {
    this.live.on('health\u0000', onUpdate);
    return async () => {
      this.live.off('health\u0000', onUpdate);
    };
  }

  async loadAccounts(): Promise<Account[]> {
    return [...this.accounts.values()];
  }

  async findKey(digest: string): Promise<KeyRecord | undefined> {
    return [...this.accounts.values()].find((a): a is Account & KeyRecord => a.kind === 'key' && a.digest === digest);
  }

  async saveAccount(account: Account): Promise<void> {
    this.accounts.set(`${account.kind}:${account.id}`, account);
    this.live.emit('accounts\u0000');
  }

  async deleteAccount(kind: AccountKind, id: string): Promise<boolean> {
    const deleted = this.accounts.delete(`${kind}:${id}`);
    if (deleted) this.live.emit('accounts\u0000');
    return deleted;
  }

  async subscribeAccounts(onChange: () => void): Promise<() => Promise<void>> {
    this.live.on('accounts\u0000', onChange);
    return async () => {
      this.live.off('accounts\u0000', onChange);
    };
  }

  async cancel(id: string): Promise<void> {
    this.cancelled.set(id, { value: true, expiresAt: Date.now() + this.opts.resultTtlSeconds * 1000 });
    this.live.emit('cancel\u0000', id);
  }

  async subscribeCancels(onCancel: (id: string) => void): Promise<() => Promise<void>> {
    this.live.on('cancel\u0000', onCancel);
    return async () => {
      this.live.off('cancel\u0000', onCancel);
    };
  }

  async createBatch(batch: Batch, owner: BatchOwner): Promise<void> {
    const feed = batch.status === 'in_progress' ? feedStart : undefined;
    this.batches.set(batch.id, { batch, owner, counts: { completed: 0, failed: 0, cancelled: 0, expired: 0 }, seen: new Set(), output: [], errors: [], feed });
  }

  async batchOwner(id: string): Promise<BatchOwner | undefined> {
    return this.batches.get(id)?.owner;
  }

  async feedingBatches(): Promise<BatchFeed[]> {
    const feeds: BatchFeed[] = [];
    for (const [id, entry] of this.batches) {
      const batch = await this.getBatch(id);
      if (entry.feed && batch) feeds.push({ ...entry.feed, batch, tenant: entry.owner.tenant, keyId: entry.owner.keyId, recorded: entry.seen.size });
    }
    return feeds;
  }

  async advanceFeed(id: string, position: FeedPosition, done: boolean): Promise<void> {
    const entry = this.batches.get(id);
    if (entry) entry.feed = done ? undefined : position;
  }

  async markBatchNotice(id: string, pending: boolean): Promise<void> {
    if (pending) this.batchNotices.add(id);
    else this.batchNotices.delete(id);
  }

  async pendingBatchNotices(): Promise<string[]> {
    return [...this.batchNotices];
  }

  async pruneBatches(createdBefore: number): Promise<number> {
    let pruned = 0;
    for (const [id, entry] of this.batches) {
      if (entry.batch.created_at < createdBefore && finalBatchStatuses.includes(entry.batch.status)) {
        this.batches.delete(id);
        pruned++;
      }
    }
    return pruned;
  }

  async getBatch(id: string): Promise<Batch | undefined> {
    const entry = this.batches.get(id);
    if (!entry) return undefined;
    return { ...entry.batch, request_counts: { total: entry.batch.request_counts.total, completed: entry.counts.completed, failed: entry.counts.failed } };
  }

  async replaceBatch(next: Batch, expected: BatchStatus): Promise<boolean> {
    const entry = this.batches.get(next.id);
    if (entry?.batch.status !== expected) return false;
    entry.batch = next;
    return true;
  }

  async listBatches(after: string | undefined, limit: number, keyId?: string): Promise<BatchPage> {
    const ids = [...this.batches].filter(([, entry]) => keyId === undefined || entry.owner.keyId === keyId).map(([id]) => id).reverse();
    const start = after === undefined ? 0 : ids.indexOf(after) + 1;
    if (start === 0 && after !== undefined) return { unknownCursor: true };
    const page = await Promise.all(ids.slice(start, start + limit).map((id) => this.getBatch(id)));
    return { batches: page.filter((b): b is Batch => b !== undefined), hasMore: ids.length > start + limit };
  }

  async recordBatchLine(id: string, outcome: BatchLineOutcome): Promise<number> {
    const entry = this.batches.get(id);
    if (!entry || !['validating', 'in_progress', 'cancelling', 'finalizing'].includes(entry.batch.status)) return entry?.seen.size ?? 0;
    if (!entry.seen.has(outcome.customId)) {
      entry.seen.add(outcome.customId);
      entry.counts[outcome.kind]++;
      (outcome.file === 'output' ? entry.output : entry.errors).push(outcome.line);
    }
    return entry.seen.size;
  }

  async batchLines(id: string): Promise<{ output: string[]; errors: string[] }> {
    const entry = this.batches.get(id);
    return { output: [...(entry?.output ?? [])], errors: [...(entry?.errors ?? [])] };
  }

  async dropBatchLines(id: string): Promise<void> {
    const entry = this.batches.get(id);
    if (!entry) return;
    entry.seen.clear();
    entry.output = [];
    entry.errors = [];
  }

  async claimOnce(name: string, ttlSeconds: number): Promise<boolean> {
    if (fresh(this.claimed, name)) return false;
    this.claimed.set(name, { value: true, expiresAt: Date.now() + ttlSeconds * 1000 });
    return true;
  }

  async saveDashboardSnapshot(instanceId: string, snapshot: string, ttlSeconds: number): Promise<void> {
    this.dashboard.set(instanceId, { value: snapshot, expiresAt: Date.now() + ttlSeconds * 1000 });
  }

  async dashboardSnapshots(): Promise<string[]> {
    return [...this.dashboard.keys()].map((id) => fresh(this.dashboard, id)).filter((s): s is string => s !== undefined);
  }

  onReconnect(): void {
    // Never disconnected: nothing to do.
  }

  async ready(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.live.removeAllListeners();
  }

  private sweep(): void {
    const now = Date.now();
    for (const map of [this.results, this.states, this.claims, this.replays, this.idempotency, this.cancelled, this.dashboard, this.claimed] as Map<string, Expiring<unknown>>[]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
  }
}

function fresh<T>(map: Map<string, Expiring<T>>, key: string): T | undefined {
  const entry = map.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= Date.now()) {
    map.delete(key);
    return undefined;
  }
  return entry.value;
}
