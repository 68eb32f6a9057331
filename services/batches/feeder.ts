// The batch feeder: gives batches' lines to the batch topic a share at a time, so tenants share
// the workers fairly. A batch's lines wait in its input file. Each tenant may have at most
// batches.maxInFlightPerTenant lines queued or running, dealt round-robin among its batches, so
// a 10-line batch waits behind at most that many lines of another tenant's 50,000-line batch,
// never behind all of them; and a tenant whose lines are parked on a rate limit holds back
// nobody else. One feeder runs at a time (a lease in the store). A line fed twice, after a
// crash between producing it and moving the feed on, has the same request id, so it runs once.
import { createHash } from 'node:crypto';
import type { BatchLineOutcome } from '#libs/contracts/batch.ts';
import { envelopeVersion, type RequestEnvelope } from '#libs/contracts/envelope.ts';
import { base32 } from '#libs/contracts/request-id.ts';
import type { FileStorage } from '#libs/storage/storage.ts';
import type { BatchFeed, FeedPosition } from '#libs/store/store.ts';
import { instanceId, type Runtime } from '#libs/runtime/runtime.ts';
import { checkInputLine, inputLines, routeProblemFor, type InputLine } from './input-lines.ts';
import { keyFallbacks } from '#libs/governance/terms.ts';
import { cancelledLine, expiredLine, outputLineId, refusedLine } from './output-lines.ts';

/** Envelopes per produce call: big enough to be quick, small enough for one Kafka request. */
const produceChunk = 500;
/** Never-run lines recorded at once, when a cancelled or expired batch's unfed lines are settled. */
const settleChunk = 100;
/** The store key of the feeder's lease. */
const leaseId = 'batch-feeder';

export interface FeedCandidate {
  id: string;
  tenant: string;
  /** Lines not fed yet. */
  remaining: number;
  /** Lines fed and not yet finished: queued, parked or running. */
  inFlight: number;
}

/**
 * How many lines to feed from each batch now: each tenant's room under `perTenant`, dealt one
 * line at a time round-robin to its batches (oldest first).
 */
export function feedPlan(candidates: readonly FeedCandidate[], perTenant: number): Map<string, number> {
  const plan = new Map<string, number>();
  for (const batches of Map.groupBy(candidates, (c) => c.tenant).values()) {
    let room = perTenant - batches.reduce((sum, b) => sum + b.inFlight, 0);
    const left = new Map(batches.filter((b) => b.remaining > 0).map((b) => [b.id, b.remaining]));
    while (room > 0 && left.size > 0) {
      for (const [id, remaining] of left) {
        if (room === 0) break;
        plan.set(id, (plan.get(id) ?? 0) + 1);
        room--;
        if (remaining === 1) left.delete(id);
        else left.set(id, remaining - 1);
      }
    }
  }
  return plan;
}

/** The request id of a batch's input line: the same every time, so a line fed twice is one request. */
export function batchLineRequestId(batchId: string, line: number): string {
  // The batch id's first 10 characters after its prefix are its creation time, as in a request id.
  const time = batchId.slice('batch_'.length, 'batch_'.length + 10);
  return `req_${time}${base32(createHash('sha256').update(`${batchId}\u0000${line}`).digest().subarray(0, 10))}`;
}

export interface Feeder {
  stop(): Promise<void>;
}

/** `settle` records a line's outcome (and finalises its batch when it was the last). */
export function startFeeder(runtime: Runtime, storage: FileStorage, settle: (batchId: string, outcome: BatchLineOutcome) => Promise<void>): Feeder {
  const { store, config } = runtime;
  const log = runtime.logger.child({ service: 'batches' });
  const owner = instanceId('feeder');
  const leaseMs = Math.max(10_000, config.batches.feedIntervalMs * 4);
  const routeProblem = routeProblemFor(runtime.registry);

  async function tick(): Promise<void> {
    if (!(await store.renewClaim(leaseId, owner, leaseMs))) return;
    const now = Date.now();
    const open: { feed: BatchFeed; candidate: FeedCandidate }[] = [];
    for (const feed of await store.feedingBatches()) {
      const { batch } = feed;
      if (batch.status === 'cancelling' || batch.status === 'cancelled') await settleRest(feed, cancelledLine, 'cancelled');
      else if (batch.status !== 'in_progress') await store.advanceFeed(batch.id, feed, true);
      else if (batch.expires_at !== null && now >= batch.expires_at * 1000) await settleRest(feed, expiredLine, 'past its completion window');
      else open.push({ feed, candidate: { id: batch.id, tenant: feed.tenant, remaining: batch.request_counts.total - feed.fed, inFlight: feed.fed - feed.recorded } });
    }
    const plan = feedPlan(
      open.map((o) => o.candidate),
      config.batches.maxInFlightPerTenant,
    );
    for (const { feed } of open) {
      const count = plan.get(feed.batch.id) ?? 0;
      if (count > 0) await feedLines(feed, count);
    }
  }

  /** Reads up to `count` lines from where the feed stands; undefined when the input file is gone. */
  async function readLines(feed: BatchFeed, count: number): Promise<{ lines: InputLine[]; end: boolean } | undefined> {
    if (count <= 0) return { lines: [], end: true };
    const found = await storage.get(feed.batch.input_file_id, feed.offset);
    if (!found) return undefined;
    const lines: InputLine[] = [];
    try {
      for await (const line of inputLines(found.content, feed)) {
        lines.push(line);
        if (lines.length === count) return { lines, end: feed.fed + count >= feed.batch.request_counts.total };
      }
      return { lines, end: true };
    } finally {
      found.content.destroy();
    }
  }

  function positionAfter(feed: BatchFeed, lines: InputLine[]): FeedPosition {
    const last = lines.at(-1);
    return last ? { fed: feed.fed + lines.length, line: last.number, offset: last.end } : feed;
  }

  async function feedLines(feed: BatchFeed, count: number): Promise<void> {
    const { batch } = feed;
    const read = await readLines(feed, count);
    if (!read) return inputGone(feed);
    const envelopes: RequestEnvelope[] = [];
    const refused: BatchLineOutcome[] = [];
    const acceptedAt = Date.now();
    const key = feed.keyId !== undefined ? runtime.auth.keyById(feed.keyId) : undefined;
    const principal = key ? runtime.auth.principalOf(key) : undefined;
    for (const line of read.lines) {
      const id = batchLineRequestId(batch.id, line.number);
      // Checked when the batch was created; only the gateway's routes can have changed since.
      const checked = checkInputLine(line.text, line.number, batch.endpoint, new Set(), routeProblem);
      if ('error' in checked) {
        refused.push(refusedLine(outputLineId(id), customIdOf(line.text), checked.error));
        continue;
      }
      envelopes.push({
        v: envelopeVersion,
        id,
        tenant: feed.tenant,
        ...(feed.keyId !== undefined ? { owner: feed.keyId } : {}),
        ...checked.request,
        // A line naming no fallbacks gets its key's own, as an HTTP request does.
        route: { model: checked.request.body.model, fallbacks: checked.request.body.fallbacks ?? (principal ? keyFallbacks(principal, checked.request.body.model) : undefined) ?? [], noFallback: false },
        reply: { mode: 'async' },
        acceptedAt,
        deadline: (batch.expires_at ?? 0) * 1000,
        priority: 'batch',
        batch: { id: batch.id, customId: checked.customId },
        // Pick<> of the union loses the pairing of operation and body that the line keeps.
      } as RequestEnvelope);
    }
    for (let i = 0; i < envelopes.length; i += produceChunk) {
      await runtime.bus.produce(
        runtime.topics.batch,
        envelopes.slice(i, i + produceChunk).map((envelope) => ({
          key: envelope.id,
          value: JSON.stringify(envelope),
          headers: { 'spillway-request-id': envelope.id, 'spillway-deadline': String(envelope.deadline) },
        })),
      );
    }
    for (const outcome of refused) await settle(batch.id, outcome);
    await store.advanceFeed(batch.id, positionAfter(feed, read.lines), read.end);
    log.debug({ batchId: batch.id, tenant: feed.tenant, fed: envelopes.length, refused: refused.length }, 'batch lines fed');
  }

  /** Records every line not fed yet as never run (the batch was cancelled, or its window passed). */
  async function settleRest(feed: BatchFeed, outcome: (id: string, customId: string) => BatchLineOutcome, why: string): Promise<void> {
    const { batch } = feed;
    const read = await readLines(feed, batch.request_counts.total - feed.fed);
    if (!read) return inputGone(feed);
    const outcomes = read.lines.map((line) => outcome(outputLineId(batchLineRequestId(batch.id, line.number)), customIdOf(line.text)));
    // Recorded a hundred at a time; the last goes through settle, which finalises the batch when it is complete.
    for (let i = 0; i < outcomes.length - 1; i += settleChunk) {
      await Promise.all(outcomes.slice(i, Math.min(i + settleChunk, outcomes.length - 1)).map((o) => store.recordBatchLine(batch.id, o)));
    }
    const last = outcomes.at(-1);
    if (last) await settle(batch.id, last);
    await store.advanceFeed(batch.id, positionAfter(feed, read.lines), true);
    log.info({ batchId: batch.id, lines: read.lines.length }, `batch ${why}: its lines not yet queued are recorded as never run`);
  }

  async function inputGone(feed: BatchFeed): Promise<void> {
    // Files in use by a feeding batch cannot be deleted through the API, so the storage lost it.
    log.error({ batchId: feed.batch.id, fileId: feed.batch.input_file_id }, 'batch input file is gone; its remaining lines cannot be queued and it will end expired');
    await store.advanceFeed(feed.batch.id, feed, true);
  }

  let ticking: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = tick()
      .catch((err: unknown) => log.warn({ err }, 'batch feeding failed; trying again next interval'))
      .finally(() => (ticking = undefined));
  }, config.batches.feedIntervalMs);
  timer.unref();

  return {
    async stop() {
      clearInterval(timer);
      await ticking;
      // Another node's feeder takes over at once rather than after the lease runs out.
      await store.releaseClaim(leaseId, owner).catch(() => undefined);
    },
  };
}

/** The custom_id of an input line that was valid when its batch was created. */
function customIdOf(text: string): string {
  const { custom_id: customId } = JSON.parse(text) as { custom_id?: unknown };
  return typeof customId === 'string' ? customId : '';
}
