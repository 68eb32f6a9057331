// The fast shared state: live events, replayable token streams, result records, execution
// claims and idempotency keys. Redis in production, in-memory in the embedded default. Kafka
// stays the record; everything here can be rebuilt or expires.
import { z } from 'zod';
import { webhookSchema, type LiveEvent, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import type { Batch, BatchLineOutcome, BatchStatus } from '#libs/contracts/batch.ts';
import type { Account, AccountKind, KeyRecord } from '#libs/governance/accounts.ts';

export type RequestState = 'accepted' | 'running';

/** Where a request not finished yet stands, and the client key id that sent it (if recorded). */
export interface RequestStatus {
  state: RequestState;
  owner?: string | undefined;
}

/** The request a worker begins: its batch (whose cancel also stops it) and the key that sent it. */
export interface BeginRequest {
  batchId?: string | undefined;
  owner?: string | undefined;
}

export interface BeginOutcome {
  result?: ResultEnvelope;
  claimed: boolean;
  previous?: RequestState;
  /** Its client, or its batch, asked for it to be cancelled. */
  cancelled: boolean;
}

export interface PublishOptions {
  /** Also append to the request's replayable stream, so a client can resume from a sequence number. */
  replay: boolean;
  /** The ingest instance relaying this request to its client: it gets the event on its own channel. */
  replyTo?: string;
}

/** What an Idempotency-Key is bound to: the request it started, and the body it was sent with. */
export const idempotencyBindingSchema = z.object({
  requestId: z.string(),
  bodyHash: z.string(),
  /** 'pending' until Kafka has acknowledged the request. */
  state: z.enum(['pending', 'accepted']),
});
export type IdempotencyBinding = z.infer<typeof idempotencyBindingSchema>;

export interface Store {
  readonly durable: boolean;
  /**
   * Publishes one live event on the request's channel (for any follower) and on the replying
   * ingest instance's channel; a request's events arrive in publish order.
   */
  publish(event: LiveEvent, opts: PublishOptions): Promise<void>;
  /** Records the result, then publishes its terminal event, so no follower sees an answer that is not stored. */
  finish(result: ResultEnvelope, event: LiveEvent, opts: PublishOptions): Promise<void>;
  /**
   * Delivers the request's live events from the moment this resolves. `onResync` is called when
   * events may have been missed (the connection to the store was lost and restored), so the
   * follower can catch up from the stored result and replay stream. Returns the unfollow.
   */
  follow(id: string, onEvent: (event: LiveEvent) => void, onResync?: () => void): Promise<() => Promise<void>>;
  /**
   * Delivers every event addressed to this ingest instance (`replyTo`), with the same resync
   * signal as follow. One subscription per instance, none per request. Returns the unsubscribe.
   */
  subscribeInstance(instanceId: string, onEvent: (event: LiveEvent) => void, onResync?: () => void): Promise<() => Promise<void>>;
  /** The replayable events of a request with a sequence number above `afterSeq`, in order. */
  readEvents(id: string, afterSeq: number): Promise<LiveEvent[]>;

  saveResult(result: ResultEnvelope): Promise<void>;
  getResult(id: string): Promise<ResultEnvelope | undefined>;
  /** Records where the request stands, with its owner (kept in the same entry: no extra write). */
  setState(id: string, state: RequestState, owner?: string): Promise<void>;
  getState(id: string): Promise<RequestStatus | undefined>;

  /**
   * A worker taking a request, in one step: its stored result if it was answered already;
   * otherwise the execution lease (and the 'running' mark) when no live owner holds it, and the
   * state before — 'running' then means an earlier execution died on it; and whether it (or
   * its batch) was cancelled. The 'running' mark keeps the request's owner.
   */
  begin(id: string, claimant: string, leaseMs: number, request?: BeginRequest): Promise<BeginOutcome>;
  /**
   * Records the answer of a request ingest could not get accepted, so a copy of it that reaches
   * Kafka late is answered with that instead of running. False when a worker has begun it
   * already: it was accepted after all, and runs.
   */
  refuse(result: ResultEnvelope): Promise<boolean>;
  /** Extends this owner's lease, taking the claim again if the store lost it; false if another owner has it. */
  renewClaim(id: string, owner: string, leaseMs: number): Promise<boolean>;
  releaseClaim(id: string, owner: string): Promise<void>;

  /** Binds the key if it is free and returns undefined; otherwise returns the binding it already has. */
  bindIdempotencyKey(key: string, binding: IdempotencyBinding, ttlSeconds: number): Promise<IdempotencyBinding | undefined>;
  /** Overwrites the binding (pending → accepted), keeping it for ttlSeconds. */
  updateIdempotencyKey(key: string, binding: IdempotencyBinding, ttlSeconds: number): Promise<void>;
  /** Marks the key's binding accepted if it still names this request (the worker does it too, in case ingest died first). */
  acceptIdempotencyKey(key: string, requestId: string, ttlSeconds: number): Promise<void>;
  /** Frees the key if it is still bound to this request (its acceptance failed). */
  releaseIdempotencyKey(key: string, requestId: string): Promise<void>;

  /** Every breaker and key cooldown workers have shared (see services/worker/health-cache.ts). */
  loadHealth(): Promise<HealthUpdate[]>;
  /** Shares one breaker or cooldown with every worker: stored, and announced to subscribers. */
  saveHealth(update: HealthUpdate): Promise<void>;
  subscribeHealth(onUpdate: (update: HealthUpdate) => void): Promise<() => Promise<void>>;

  /** Asks for a request to be cancelled: marked, so a worker that has not begun it does not, and announced to the workers. */
  cancel(id: string): Promise<void>;
  /** Every cancellation asked for from now on, by request id. */
  subscribeCancels(onCancel: (id: string) => void): Promise<() => Promise<void>>;

  /**
   * Stores a new batch (POST /v1/batches) and adds it to the newest-first index. A batch that
   * starts in_progress is also feeding: its lines wait in its input file for the feeder.
   */
  createBatch(batch: Batch, owner: BatchOwner): Promise<void>;
  /** The batch object, with its request_counts as recorded so far. */
  getBatch(id: string): Promise<Batch | undefined>;
  batchOwner(id: string): Promise<BatchOwner | undefined>;
  /** Every batch whose lines are not all given to Kafka yet, oldest first. */
  feedingBatches(): Promise<BatchFeed[]>;
  /** Moves a batch's feed on; `done` when no line is left to give (it stops feeding). */
  advanceFeed(id: string, position: FeedPosition, done: boolean): Promise<void>;
  /** Marks (or clears) a finished batch whose webhook is still to be delivered. */
  markBatchNotice(id: string, pending: boolean): Promise<void>;
  /** The finished batches whose webhook is still to be delivered. */
  pendingBatchNotices(): Promise<string[]>;
  /** Forgets finished batches created before `createdBefore` (unix seconds); returns how many. */
  pruneBatches(createdBefore: number): Promise<number>;
  /**
   * Replaces the batch object if its status is still `expected`; false otherwise. Every change
   * to a batch changes its status, so this is a compare-and-set on the whole object.
   */
  replaceBatch(next: Batch, expected: BatchStatus): Promise<boolean>;
  /** Newest first, starting after the batch `after`; only the batches of the key `keyId` when given. */
  listBatches(after: string | undefined, limit: number, keyId?: string): Promise<BatchPage>;
  /**
   * Records one finished request of a batch, once per custom_id and only while the batch is not
   * final (a redelivered result changes nothing). Returns how many lines are recorded now.
   */
  recordBatchLine(id: string, outcome: BatchLineOutcome): Promise<number>;
  /** The output and error lines recorded, in the order they were. */
  batchLines(id: string): Promise<{ output: string[]; errors: string[] }>;
  /** Forgets the recorded lines (the counts stay) once they are in the batch's files. */
  dropBatchLines(id: string): Promise<void>;

  /**
   * Publishes this process's dashboard snapshot (services/dashboard/snapshot.ts, as JSON), kept
   * for ttlSeconds unless published again: a process that stops publishing drops out by itself.
   */
  saveDashboardSnapshot(instanceId: string, snapshot: string, ttlSeconds: number): Promise<void>;
  /** The latest dashboard snapshot of every process still publishing, as published. */
  dashboardSnapshots(): Promise<string[]>;

  /** Every account the admin API has stored (the config file's are not here). */
  loadAccounts(): Promise<Account[]>;
  /** The stored key with this secret digest, for a key made on another replica a moment ago. */
  findKey(digest: string): Promise<KeyRecord | undefined>;
  /** Creates or replaces an account, and tells every replica (subscribeAccounts). */
  saveAccount(account: Account): Promise<void>;
  /** Removes an account and tells every replica; false when there was none. */
  deleteAccount(kind: AccountKind, id: string): Promise<boolean>;
  /** Called whenever any replica changes an account: reload them (loadAccounts). */
  subscribeAccounts(onChange: () => void): Promise<() => Promise<void>>;

  /** True for the first caller, on any replica, to claim this name within ttlSeconds: for what must happen once. */
  claimOnce(name: string, ttlSeconds: number): Promise<boolean>;

  /** Called after the connection to the store was lost and is back (its data may be gone). */
  onReconnect(listener: () => void): void;

  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export type BatchPage = { batches: Batch[]; hasMore: boolean } | { unknownCursor: true };

/** Who a batch belongs to, kept beside it (OpenAI's batch object has no place for it). */
export const batchOwnerSchema = z.object({
  /** Its lines get a fair share of the workers against other tenants' batches. */
  tenant: z.string(),
  /** The client key id that created it: only that key may see it, its output and error files. */
  keyId: z.string().optional(),
  /** Told when the batch ends. */
  webhook: webhookSchema.optional(),
});
export type BatchOwner = z.infer<typeof batchOwnerSchema>;

/** How far a batch's feeder is through its input file. */
export const feedPositionSchema = z.object({
  /** Requests given to Kafka (or settled without it) so far. */
  fed: z.number().int().nonnegative(),
  /** Input lines read so far, blank ones included: the next line's number is line + 1. */
  line: z.number().int().nonnegative(),
  /** The byte in the input file where the next line starts. */
  offset: z.number().int().nonnegative(),
});
export type FeedPosition = z.infer<typeof feedPositionSchema>;

export const feedStart: FeedPosition = { fed: 0, line: 0, offset: 0 };

export interface BatchFeed extends FeedPosition {
  batch: Batch;
  tenant: string;
  /** The key that created the batch: its requests are that key's. */
  keyId?: string | undefined;
  /** Lines whose outcome is recorded: fed minus this are queued or running. */
  recorded: number;
}

/** One piece of shared provider health: a target's or a key's breaker, or a key's cooldown. */
export const healthUpdateSchema = z.object({
  kind: z.enum(['target', 'key', 'cooldown']),
  id: z.string(),
  value: z.unknown(),
});
export type HealthUpdate = z.infer<typeof healthUpdateSchema>;

/** A request state as one stored value, `<state>` or `<state>:<owner>` (a state has no ':'). */
export function encodeStatus(state: RequestState, owner: string | undefined): string {
  return owner === undefined ? state : `${state}:${owner}`;
}

export function decodeStatus(raw: string | null | undefined): RequestStatus | undefined {
  if (!raw) return undefined;
  const at = raw.indexOf(':');
  const state = at < 0 ? raw : raw.slice(0, at);
  if (state !== 'accepted' && state !== 'running') return undefined;
  return at < 0 ? { state } : { state, owner: raw.slice(at + 1) };
}

/** The store did not answer in time; the caller should answer 503 rather than hang. */
export class StoreUnavailableError extends Error {}

export interface StoreOptions {
  prefix: string;
  resultTtlSeconds: number;
  replayTtlSeconds: number;
}

export function storeKeys(prefix: string): {
  result: (id: string) => string;
  state: (id: string) => string;
  claim: (id: string) => string;
  events: (id: string) => string;
  live: (id: string) => string;
  reply: (instanceId: string) => string;
  idempotency: (key: string) => string;
  health: string;
  healthChannel: string;
  cancelled: (id: string) => string;
  cancelChannel: string;
  batch: (id: string) => string;
  batchCounts: (id: string) => string;
  batchSeen: (id: string) => string;
  batchOutput: (id: string) => string;
  batchErrors: (id: string) => string;
  batches: string;
  batchesOf: (keyId: string) => string;
  batchesFeeding: string;
  batchNotices: string;
  dashboardSnapshot: (instanceId: string) => string;
  dashboardInstances: string;
  accounts: string;
  accountDigests: string;
  accountsChannel: string;
  once: (name: string) => string;
} {
  return {
    result: (id) => `${prefix}:result:${id}`,
    state: (id) => `${prefix}:state:${id}`,
    claim: (id) => `${prefix}:claim:${id}`,
    events: (id) => `${prefix}:events:${id}`,
    live: (id) => `${prefix}:live:${id}`,
    reply: (instanceId) => `${prefix}:reply:${instanceId}`,
    idempotency: (key) => `${prefix}:idem:${key}`,
    health: `${prefix}:health`,
    healthChannel: `${prefix}:health:changes`,
    cancelled: (id) => `${prefix}:cancelled:${id}`,
    cancelChannel: `${prefix}:cancels`,
    batch: (id) => `${prefix}:batch:${id}`,
    batchCounts: (id) => `${prefix}:batch:${id}:counts`,
    batchSeen: (id) => `${prefix}:batch:${id}:seen`,
    batchOutput: (id) => `${prefix}:batch:${id}:output`,
    batchErrors: (id) => `${prefix}:batch:${id}:errors`,
    batches: `${prefix}:batches`,
    batchesOf: (keyId) => `${prefix}:batches:key:${keyId}`,
    batchesFeeding: `${prefix}:batches:feeding`,
    batchNotices: `${prefix}:batches:notices`,
    dashboardSnapshot: (instanceId) => `${prefix}:dashboard:instance:${instanceId}`,
    dashboardInstances: `${prefix}:dashboard:instances`,
    accounts: `${prefix}:accounts`,
    accountDigests: `${prefix}:accounts:digests`,
    accountsChannel: `${prefix}:accounts:changes`,
    once: (name) => `${prefix}:once:${name}`,
  };
}
