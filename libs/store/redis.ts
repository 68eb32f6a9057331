// The Redis store. Commands issued in the same tick share one round trip (auto-pipelining);
// live events go out by PUBLISH on the request's own channel, plus XADD for replay. One
// subscriber connection carries every channel this process follows.
import { lua, runScript } from './lua-script.ts';
import { Redis } from 'ioredis';
import { liveEventSchema, resultEnvelopeSchema, type LiveEvent, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { batchSchema, batchStatusSchema, finalBatchStatuses, type Batch, type BatchLineOutcome, type BatchStatus } from '#libs/contracts/batch.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import { accountSchema, type Account, type AccountKind, type KeyRecord } from '#libs/governance/accounts.ts';
import { StoreUnavailableError, batchOwnerSchema, decodeStatus, encodeStatus, type BeginRequest, type RequestStatus, feedPositionSchema, feedStart, type BatchFeed, type BatchOwner, type FeedPosition, healthUpdateSchema, type BatchPage, type BeginOutcome, idempotencyBindingSchema, storeKeys, type HealthUpdate, type IdempotencyBinding, type PublishOptions, type RequestState, type Store, type StoreOptions } from './store.ts';
import { safeJson } from '#libs/contracts/safe-json.ts';

const replayMaxLen = 10_000;
const followTimeoutMs = 2_000;

interface Follower {
  onEvent: (event: LiveEvent) => void;
  onResync: (() => void) | undefined;
}

// KEYS: result, claim, state, the request's and its batch's cancel marks. ARGV: claimant, lease
// ms, state ttl s, the 'running' state value (with the request's owner). Returns {result or '',
// 1|0 claimed, previous state value or '', 1|0 cancelled}.
const beginScript = lua(`
local result = redis.call('GET', KEYS[1])
if result then return {result, 0, '', 0} end
local cancelled = redis.call('EXISTS', KEYS[4], KEYS[5]) > 0 and 1 or 0
local previous = redis.call('GET', KEYS[3]) or ''
if redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then
  redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[3])
  return {'', 1, previous, cancelled}
end
return {'', 0, previous, cancelled}`);

// KEYS: result, claim, state. ARGV: result, ttl s. Stores the result unless a worker has begun
// (a state value is 'running', or 'running:<owner>').
const refuseScript = lua(`
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 or string.sub(redis.call('GET', KEYS[3]) or '', 1, 7) == 'running' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`);


// KEYS: idempotency key. ARGV: request id, ttl s. Marks a pending binding of this request accepted.
const acceptScript = lua(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, b = pcall(cjson.decode, v)
if not ok or b.requestId ~= ARGV[1] then return 0 end
if b.state ~= 'accepted' then
  b.state = 'accepted'
  redis.call('SET', KEYS[1], cjson.encode(b), 'EX', ARGV[2])
end
return 1`);

// KEYS: batch. ARGV: expected status, new status, new object. A compare-and-set on the status.
const replaceBatchScript = lua(`
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'object', ARGV[3])
return 1`);

// KEYS: batch, seen, counts, output, errors. ARGV: custom_id, kind, file, line. Records a line
// once per custom_id while the batch is not final; returns the lines recorded.
const recordBatchLineScript = lua(`
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'validating' or status == 'in_progress' or status == 'cancelling' or status == 'finalizing' then
  if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
    redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
    if ARGV[3] == 'output' then redis.call('RPUSH', KEYS[4], ARGV[4]) else redis.call('RPUSH', KEYS[5], ARGV[4]) end
  end
end
return redis.call('SCARD', KEYS[2])`);

// Renews a claim this owner holds, and takes it again if Redis lost it (a restart without data);
// fails only when another owner holds it now.
const renewScript = `local v = redis.call('get', KEYS[1])
if v == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const releaseScript = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class RedisStore implements Store {
  readonly durable = true;
  private readonly client: Redis;
  private subscriber: Redis | undefined;
  private readonly keys: ReturnType<typeof storeKeys>;
  private readonly opts: StoreOptions;
  private readonly log: Logger;
  private readonly followers = new Map<string, Set<Follower>>();

  constructor(url: string, opts: StoreOptions, logger: Logger) {
    this.opts = opts;
    this.keys = storeKeys(opts.prefix);
    this.log = logger.child({ component: 'redis' });
    this.client = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 20, lazyConnect: false });
    this.client.on('error', (err: Error) => this.log.warn({ err: err.message }, 'redis connection error'));
  }

  async publish(event: LiveEvent, opts: PublishOptions): Promise<void> {
    const payload = JSON.stringify(event);
    const pipeline = this.client.pipeline();
    if (opts.replay) this.appendReplay(pipeline, event, payload);
    pipeline.publish(this.keys.live(event.id), payload);
    if (opts.replyTo) pipeline.publish(this.keys.reply(opts.replyTo), payload);
    await execOrThrow(pipeline);
  }

  async finish(result: ResultEnvelope, event: LiveEvent, opts: PublishOptions): Promise<void> {
    const payload = JSON.stringify(event);
    const transaction = this.client.multi();
    transaction.set(this.keys.result(result.id), JSON.stringify(result), 'EX', this.opts.resultTtlSeconds);
    transaction.del(this.keys.state(result.id));
    if (opts.replay) this.appendReplay(transaction, event, payload);
    transaction.publish(this.keys.live(event.id), payload);
    if (opts.replyTo) transaction.publish(this.keys.reply(opts.replyTo), payload);
    await execOrThrow(transaction);
  }

  private appendReplay(pipeline: ReturnType<Redis['pipeline']>, event: LiveEvent, payload: string): void {
    const key = this.keys.events(event.id);
    pipeline.xadd(key, 'MAXLEN', '~', String(replayMaxLen), `${event.seq}-0`, 'e', payload);
    pipeline.expire(key, this.opts.replayTtlSeconds);
  }

  follow(id: string, onEvent: (event: LiveEvent) => void, onResync?: () => void): Promise<() => Promise<void>> {
    return this.listen(this.keys.live(id), onEvent, onResync);
  }

  subscribeInstance(instanceId: string, onEvent: (event: LiveEvent) => void, onResync?: () => void): Promise<() => Promise<void>> {
    return this.listen(this.keys.reply(instanceId), onEvent, onResync);
  }

  private async listen(channel: string, onEvent: (event: LiveEvent) => void, onResync?: () => void): Promise<() => Promise<void>> {
    const sub = this.subscriberConnection();
    const follower: Follower = { onEvent, onResync };
    let followers = this.followers.get(channel);
    const first = !followers;
    if (!followers) {
      followers = new Set();
      this.followers.set(channel, followers);
    }
    followers.add(follower);
    const unfollow = async (): Promise<void> => {
      const set = this.followers.get(channel);
      if (!set?.delete(follower) || set.size > 0) return;
      this.followers.delete(channel);
      await sub.unsubscribe(channel).catch(() => undefined);
    };
    if (first) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          sub.subscribe(channel),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new StoreUnavailableError(`Redis did not confirm a subscription within ${followTimeoutMs} ms`)), followTimeoutMs))),
        ]);
      } catch (err) {
        await unfollow();
        throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`Redis subscription failed: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    }
    return unfollow;
  }

  private subscriberConnection(): Redis {
    if (this.subscriber) return this.subscriber;
    const sub = this.client.duplicate({ enableAutoPipelining: false });
    sub.on('error', (err: Error) => this.log.warn({ err: err.message }, 'redis subscriber connection error'));
    sub.on('message', (channel: string, message: string) => {
      const followers = this.followers.get(channel);
      if (!followers) return;
      const parsed = liveEventSchema.safeParse(safeJson(message));
      if (!parsed.success) {
        this.log.error({ channel }, 'dropped a malformed live event');
        return;
      }
      for (const f of followers) f.onEvent(parsed.data);
    });
    let connectedBefore = false;
    sub.on('ready', () => {
      if (!connectedBefore) {
        connectedBefore = true;
        return;
      }
      // Reconnected: ioredis re-subscribes on its own; once Redis has answered a PING sent after
      // those SUBSCRIBEs, every event from now on arrives, and followers catch up on the gap.
      sub
        .ping()
        .then(() => {
          this.log.info({ channels: this.followers.size }, 'redis subscriber reconnected; followers catching up');
          for (const followers of this.followers.values()) for (const f of followers) f.onResync?.();
        })
        .catch((err: unknown) => this.log.warn({ err }, 'redis subscriber resync failed'));
    });
    this.subscriber = sub;
    return sub;
  }

  async readEvents(id: string, afterSeq: number): Promise<LiveEvent[]> {
    const entries = await this.client.xrange(this.keys.events(id), `(${afterSeq}-0`, '+');
    const events: LiveEvent[] = [];
    for (const [, fields] of entries) {
      const parsed = liveEventSchema.safeParse(safeJson(fields[1] ?? ''));
      if (parsed.success) events.push(parsed.data);
    }
    return events;
  }

  async saveResult(result: ResultEnvelope): Promise<void> {
    await this.client.set(this.keys.result(result.id), JSON.stringify(result), 'EX', this.opts.resultTtlSeconds);
  }

  async getResult(id: string): Promise<ResultEnvelope | undefined> {
    const raw = await this.client.get(this.keys.result(id));
    if (raw === null) return undefined;
    return resultEnvelopeSchema.parse(JSON.parse(raw));
  }

  async setState(id: string, state: RequestState, owner?: string): Promise<void> {
    const value = encodeStatus(state, owner);
    // 'accepted' never overwrites 'running': ingest's write can land after the worker started.
    if (state === 'accepted') await this.client.set(this.keys.state(id), value, 'EX', this.opts.resultTtlSeconds, 'NX');
    else await this.client.set(this.keys.state(id), value, 'EX', this.opts.resultTtlSeconds);
  }

  async getState(id: string): Promise<RequestStatus | undefined> {
    return decodeStatus(await this.client.get(this.keys.state(id)));
  }

  async begin(id: string, claimant: string, leaseMs: number, request: BeginRequest = {}): Promise<BeginOutcome> {
    const keys = [this.keys.result(id), this.keys.claim(id), this.keys.state(id), this.keys.cancelled(id), this.keys.cancelled(request.batchId ?? id)];
    const reply = await runScript(this.client, beginScript, keys, [claimant, String(leaseMs), String(this.opts.resultTtlSeconds), encodeStatus('running', request.owner)]);
    const [result, claimed, previous, cancelled] = Array.isArray(reply) ? reply : [];
    const outcome: BeginOutcome = { claimed: claimed === 1, cancelled: cancelled === 1 };
    if (typeof result === 'string' && result !== '') outcome.result = resultEnvelopeSchema.parse(JSON.parse(result));
    const before = typeof previous === 'string' ? decodeStatus(previous) : undefined;
    if (before) outcome.previous = before.state;
    return outcome;
  }

  async refuse(result: ResultEnvelope): Promise<boolean> {
    const keys = [this.keys.result(result.id), this.keys.claim(result.id), this.keys.state(result.id)];
    return (await runScript(this.client, refuseScript, keys, [JSON.stringify(result), String(this.opts.resultTtlSeconds)])) === 1;
  }

  async renewClaim(id: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.client.eval(renewScript, 1, this.keys.claim(id), owner, String(leaseMs))) === 1;
  }

  async releaseClaim(id: string, owner: string): Promise<void> {
    await this.client.eval(releaseScript, 1, this.keys.claim(id), owner);
  }

  async bindIdempotencyKey(key: string, binding: IdempotencyBinding, ttlSeconds: number): Promise<IdempotencyBinding | undefined> {
    // SET NX GET (Redis 7): binds the key or returns what it holds, in one atomic step.
    const previous = await this.client.call('SET', this.keys.idempotency(key), JSON.stringify(binding), 'EX', String(ttlSeconds), 'NX', 'GET');
    if (typeof previous !== 'string') return undefined;
    const parsed = idempotencyBindingSchema.safeParse(safeJson(previous));
    // An unreadable binding still holds the key; it is reported as one nobody can attach to.
    return parsed.success ? parsed.data : { requestId: '', bodyHash: '', state: 'pending' };
  }

  async updateIdempotencyKey(key: string, binding: IdempotencyBinding, ttlSeconds: number): Promise<void> {
    await this.client.set(this.keys.idempotency(key), JSON.stringify(binding), 'EX', ttlSeconds);
  }

  async acceptIdempotencyKey(key: string, requestId: string, ttlSeconds: number): Promise<void> {
    await runScript(this.client, acceptScript, [this.keys.idempotency(key)], [requestId, String(ttlSeconds)]);
  }

  async releaseIdempotencyKey(key: string, requestId: string): Promise<void> {
    const raw = await this.client.get(this.keys.idempotency(key));
    if (raw && idempotencyBindingSchema.safeParse(safeJson(raw)).data?.requestId === requestId) await this.client.del(this.keys.idempotency(key));
  }

  async loadHealth(): Promise<HealthUpdate[]> {
    const all = await this.client.hgetall(this.keys.health);
    const updates: HealthUpdate[] = [];
    for (const raw of Object.values(all)) {
      const parsed = healthUpdateSchema.safeParse(safeJson(raw));
      if (parsed.success) updates.push(parsed.data);
    }
    return updates;
  }

  async saveHealth(update: HealthUpdate): Promise<void> {
    const payload = JSON.stringify(update);
    const pipeline = this.client.pipeline();
    pipeline.hset(this.keys.health, `${update.kind}:${update.id}`, payload);
    pipeline.publish(this.keys.healthChannel, payload);
    await execOrThrow(pipeline);
  }

  async subscribeHealth(onUpdate: (update: HealthUpdate) => void): Promise<() => Promise<void>> {
    const sub = this.subscriberConnection();
    const channel = this.keys.healthChannel;
    const listener = (ch: string, message: string): void => {
      if (ch !== channel) return;
      const parsed = healthUpdateSchema.safeParse(safeJson(message));
      if (parsed.success) onUpdate(parsed.data);
    };
    sub.on('message', listener);
    await sub.subscribe(channel);
    return async () => {
      sub.off('message', listener);
      await sub.unsubscribe(channel).catch(() => undefined);
    };
  }

  async cancel(id: string): Promise<void> {
    const pipeline = this.client.pipeline();
    pipeline.set(this.keys.cancelled(id), '1', 'EX', this.opts.resultTtlSeconds);
    pipeline.publish(this.keys.cancelChannel, id);
    await execOrThrow(pipeline);
  }

  async subscribeCancels(onCancel: (id: string) => void): Promise<() => Promise<void>> {
    const sub = this.subscriberConnection();
    const channel = this.keys.cancelChannel;
    const listener = (ch: string, message: string): void => {
      if (ch === channel) onCancel(message);
    };
    sub.on('message', listener);
    await sub.subscribe(channel);
    return async () => {
      sub.off('message', listener);
      await sub.unsubscribe(channel).catch(() => undefined);
    };
  }

  async createBatch(batch: Batch, owner: BatchOwner): Promise<void> {
    const transaction = this.client.multi();
    transaction.hset(this.keys.batch(batch.id), 'status', batch.status, 'object', JSON.stringify(batch), 'owner', JSON.stringify(owner));
    // Ids are time-ordered, so within one second the member order is the creation order.
    transaction.zadd(this.keys.batches, batch.created_at, batch.id);
    if (owner.keyId !== undefined) transaction.zadd(this.keys.batchesOf(owner.keyId), batch.created_at, batch.id);
    if (batch.status === 'in_progress') {
      transaction.hset(this.keys.batch(batch.id), 'feed', JSON.stringify(feedStart));
      transaction.zadd(this.keys.batchesFeeding, batch.created_at, batch.id);
    }
    await execOrThrow(transaction);
  }

  async batchOwner(id: string): Promise<BatchOwner | undefined> {
    const raw = await this.client.hget(this.keys.batch(id), 'owner');
    return raw === null ? undefined : batchOwnerSchema.parse(JSON.parse(raw));
  }

  async feedingBatches(): Promise<BatchFeed[]> {
    const ids = await this.client.zrange(this.keys.batchesFeeding, 0, -1);
    const feeds = await Promise.all(
      ids.map(async (id): Promise<BatchFeed | undefined> => {
        const [batch, fields, recorded] = await Promise.all([this.getBatch(id), this.client.hmget(this.keys.batch(id), 'owner', 'feed'), this.client.scard(this.keys.batchSeen(id))]);
        const [owner, feed] = fields;
        if (!batch || owner === null || feed === null) return undefined;
        const { tenant, keyId } = batchOwnerSchema.parse(JSON.parse(owner));
        return { ...feedPositionSchema.parse(JSON.parse(feed)), batch, tenant, keyId, recorded };
      }),
    );
    return feeds.filter((f): f is BatchFeed => f !== undefined);
  }

  async advanceFeed(id: string, position: FeedPosition, done: boolean): Promise<void> {
    const transaction = this.client.multi();
    if (done) {
      transaction.hdel(this.keys.batch(id), 'feed');
      transaction.zrem(this.keys.batchesFeeding, id);
    } else {
      transaction.hset(this.keys.batch(id), 'feed', JSON.stringify(position));
    }
    await execOrThrow(transaction);
  }

  async markBatchNotice(id: string, pending: boolean): Promise<void> {
    if (pending) await this.client.sadd(this.keys.batchNotices, id);
    else await this.client.srem(this.keys.batchNotices, id);
  }

  async pendingBatchNotices(): Promise<string[]> {
    return this.client.smembers(this.keys.batchNotices);
  }

  async pruneBatches(createdBefore: number): Promise<number> {
    const ids = await this.client.zrangebyscore(this.keys.batches, '-inf', `(${createdBefore}`);
    let pruned = 0;
    for (const id of ids) {
      const [status, owner] = await this.client.hmget(this.keys.batch(id), 'status', 'owner');
      if (status !== null && !finalBatchStatuses.includes(batchStatusSchema.parse(status))) continue;
      const keyId = owner === null ? undefined : batchOwnerSchema.safeParse(safeJson(owner)).data?.keyId;
      const k = this.keys;
      const transaction = this.client.multi();
      transaction.del(k.batch(id), k.batchCounts(id), k.batchSeen(id), k.batchOutput(id), k.batchErrors(id));
      transaction.zrem(k.batches, id);
      if (keyId !== undefined) transaction.zrem(k.batchesOf(keyId), id);
      await execOrThrow(transaction);
      pruned++;
    }
    return pruned;
  }

  async getBatch(id: string): Promise<Batch | undefined> {
    const [raw, counts] = await Promise.all([this.client.hget(this.keys.batch(id), 'object'), this.client.hgetall(this.keys.batchCounts(id))]);
    if (raw === null) return undefined;
    const batch = batchSchema.parse(JSON.parse(raw));
    return { ...batch, request_counts: { total: batch.request_counts.total, completed: Number(counts.completed ?? 0), failed: Number(counts.failed ?? 0) } };
  }

  async replaceBatch(next: Batch, expected: BatchStatus): Promise<boolean> {
    return (await runScript(this.client, replaceBatchScript, [this.keys.batch(next.id)], [expected, next.status, JSON.stringify(next)])) === 1;
  }

  async listBatches(after: string | undefined, limit: number, keyId?: string): Promise<BatchPage> {
    const index = keyId === undefined ? this.keys.batches : this.keys.batchesOf(keyId);
    let start = 0;
    if (after !== undefined) {
      const rank = await this.client.zrevrank(index, after);
      if (rank === null) return { unknownCursor: true };
      start = rank + 1;
    }
    const ids = await this.client.zrevrange(index, start, start + limit);
    const batches = await Promise.all(ids.slice(0, limit).map((id) => this.getBatch(id)));
    return { batches: batches.filter((b): b is Batch => b !== undefined), hasMore: ids.length > limit };
  }

  async recordBatchLine(id: string, outcome: BatchLineOutcome): Promise<number> {
    const k = this.keys;
    const keys = [k.batch(id), k.batchSeen(id), k.batchCounts(id), k.batchOutput(id), k.batchErrors(id)];
    return Number(await runScript(this.client, recordBatchLineScript, keys, [outcome.customId, outcome.kind, outcome.file, outcome.line]));
  }

  async batchLines(id: string): Promise<{ output: string[]; errors: string[] }> {
    const [output, errors] = await Promise.all([this.client.lrange(this.keys.batchOutput(id), 0, -1), this.client.lrange(this.keys.batchErrors(id), 0, -1)]);
    return { output, errors };
  }

  async dropBatchLines(id: string): Promise<void> {
    await this.client.del(this.keys.batchSeen(id), this.keys.batchOutput(id), this.keys.batchErrors(id));
  }

  async saveDashboardSnapshot(instanceId: string, snapshot: string, ttlSeconds: number): Promise<void> {
    const now = Date.now();
    const key = this.keys.dashboardSnapshot(instanceId);
    const transaction = this.client.multi();
    transaction.hset(key, 'snapshot', snapshot);
    transaction.expire(key, ttlSeconds);
    // The index says who published lately (scored by when each entry lapses); it forgets the lapsed.
    transaction.zadd(this.keys.dashboardInstances, now + ttlSeconds * 1000, instanceId);
    transaction.zremrangebyscore(this.keys.dashboardInstances, '-inf', now);
    await execOrThrow(transaction);
  }

  async dashboardSnapshots(): Promise<string[]> {
    const ids = await this.client.zrangebyscore(this.keys.dashboardInstances, Date.now(), '+inf');
    const snapshots = await Promise.all(ids.map((id) => this.client.hget(this.keys.dashboardSnapshot(id), 'snapshot')));
    return snapshots.filter((s): s is string => s !== null);
  }

  async loadAccounts(): Promise<Account[]> {
    const all = await this.client.hgetall(this.keys.accounts);
    return Object.values(all).flatMap((raw) => accountSchema.safeParse(safeJson(raw)).data ?? []);
  }

  async findKey(digest: string): Promise<KeyRecord | undefined> {
    const id = await this.client.hget(this.keys.accountDigests, digest);
    if (id === null) return undefined;
    const account = accountSchema.safeParse(safeJson((await this.client.hget(this.keys.accounts, `key:${id}`)) ?? '')).data;
    return account?.kind === 'key' ? account : undefined;
  }

  async saveAccount(account: Account): Promise<void> {
    const transaction = this.client.multi();
    transaction.hset(this.keys.accounts, `${account.kind}:${account.id}`, JSON.stringify(account));
    if (account.kind === 'key') transaction.hset(this.keys.accountDigests, account.digest, account.id);
    transaction.publish(this.keys.accountsChannel, `${account.kind}:${account.id}`);
    await execOrThrow(transaction);
  }

  async deleteAccount(kind: AccountKind, id: string): Promise<boolean> {
    const existing = accountSchema.safeParse(safeJson((await this.client.hget(this.keys.accounts, `${kind}:${id}`)) ?? '')).data;
    if (!existing) return false;
    const transaction = this.client.multi();
    transaction.hdel(this.keys.accounts, `${kind}:${id}`);
    if (existing.kind === 'key') transaction.hdel(this.keys.accountDigests, existing.digest);
    transaction.publish(this.keys.accountsChannel, `${kind}:${id}`);
    await execOrThrow(transaction);
    return true;
  }

  async subscribeAccounts(onChange: () => void): Promise<() => Promise<void>> {
    const sub = this.subscriberConnection();
    const channel = this.keys.accountsChannel;
    const listener = (ch: string): void => {
      if (ch === channel) onChange();
    };
    sub.on('message', listener);
    await sub.subscribe(channel);
    return async () => {
      sub.off('message', listener);
      await sub.unsubscribe(channel).catch(() => undefined);
    };
  }

  async claimOnce(name: string, ttlSeconds: number): Promise<boolean> {
    return (await this.client.set(this.keys.once(name), '1', 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  onReconnect(listener: () => void): void {
    let connectedBefore = this.client.status === 'ready';
    this.client.on('ready', () => {
      if (connectedBefore) listener();
      connectedBefore = true;
    });
  }

  async ready(): Promise<boolean> {
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.client.quit().catch(() => undefined), this.subscriber?.quit().catch(() => undefined)]);
  }
}

async function execOrThrow(pipeline: { exec(): Promise<[Error | null, unknown][] | null> }): Promise<void> {
  const results = await pipeline.exec();
  for (const [err] of results ?? []) if (err) throw err;
}
