// Batch progress: reads the results topic in a consumer group of its own and records every
// result that belongs to a batch — once per custom_id, so a redelivery counts nothing twice.
// The result that accounts for a batch's last line finalises it: the output and error files
// are written to file storage, the batch ends completed, cancelled or expired, and its webhook
// (if it named one) is told. The feeder (feeder.ts) runs here too: it gives batches' lines to
// Kafka, and records the lines that will never run (batch cancelled, window passed) itself.
import { readResult } from '#libs/contracts/envelope.ts';
import { finalBatchStatuses, type Batch, type BatchLineOutcome } from '#libs/contracts/batch.ts';
import { groupIds } from '#libs/bus/topics.ts';
import type { BusMessage } from '#libs/bus/bus.ts';
import type { FileStorage } from '#libs/storage/storage.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { feedStart } from '#libs/store/store.ts';
import type { SendWebhook } from '#services/results/webhooks.ts';
import { batchLineOutcome, expiredLine, outputLineId } from './output-lines.ts';
import { batchLineRequestId, startFeeder } from './feeder.ts';
import { inputLines } from './input-lines.ts';
import { transitionBatch } from './transition.ts';

/** A batch left 'finalizing' this long is taken over: whoever was finalising it died. */
const finalizingStaleSeconds = 30;
const concurrency = 64;

export interface BatchProgress {
  stop(graceMs?: number): Promise<void>;
}

/** `send` delivers webhooks; undefined when delivery is off. */
export async function startBatchProgress(runtime: Runtime, storage: FileStorage, send: SendWebhook | undefined): Promise<BatchProgress> {
  const { store } = runtime;
  const log = runtime.logger.child({ service: 'batches' });

  async function handle(message: BusMessage): Promise<void> {
    const result = readResult(message.value);
    if (result?.batch) await settle(result.batch.id, batchLineOutcome(result, result.batch.customId));
  }

  /** Records one line's outcome; the line that accounts for the batch's last one finalises it. */
  async function settle(batchId: string, outcome: BatchLineOutcome): Promise<void> {
    const recorded = await store.recordBatchLine(batchId, outcome);
    const batch = await store.getBatch(batchId);
    if (!batch) {
      log.warn({ batchId, customId: outcome.customId }, 'a result names a batch that is not known; ignored');
      return;
    }
    if (finalBatchStatuses.includes(batch.status)) return notify(batch);
    if (recorded < batch.request_counts.total) return;
    await finalize(batch);
  }

  /**
   * Tells a finished batch's webhook, if it has one: marked pending before the batch ends, so a
   * crash before delivery is made good by the next sweep (at least once; receivers dedupe on the id).
   */
  async function notify(batch: Batch): Promise<void> {
    if (notifying.has(batch.id) || !(await store.pendingBatchNotices()).includes(batch.id)) return;
    notifying.add(batch.id);
    try {
      await deliverNotice(batch);
    } finally {
      notifying.delete(batch.id);
    }
  }
  const notifying = new Set<string>();

  async function deliverNotice(batch: Batch): Promise<void> {
    const url = (await store.batchOwner(batch.id))?.webhook?.url;
    if (url !== undefined && send !== undefined) {
      const endedAt = batch.completed_at ?? batch.cancelled_at ?? batch.expired_at ?? batch.failed_at ?? Math.floor(Date.now() / 1000);
      const event = { id: `${batch.id}_${batch.status}`, type: `batch.${batch.status}`, created_at: endedAt, data: { id: batch.id } };
      await send(url, event, endedAt * 1000 + runtime.config.webhooks.maxAgeSeconds * 1000, { batchId: batch.id });
    }
    await store.markBatchNotice(batch.id, false);
  }

  async function finalize(seen: Batch): Promise<void> {
    const now = (): number => Math.floor(Date.now() / 1000);
    let batch: Batch | undefined = seen;
    if (seen.status === 'finalizing') {
      // Another handler is writing the files; this message is retried until it is done, or taken over if it died.
      if (now() - (seen.finalizing_at ?? 0) < finalizingStaleSeconds) throw new Error(`batch ${seen.id} is being finalised elsewhere; retrying`);
      log.warn({ batchId: seen.id }, 'batch left finalizing; taking over');
    } else {
      batch = await transitionBatch(store, seen.id, ['in_progress', 'cancelling'], (b) => ({ ...b, status: 'finalizing', finalizing_at: now() }));
      if (!batch) return;
    }
    const [{ output, errors }, owner] = await Promise.all([store.batchLines(batch.id), store.batchOwner(batch.id)]);
    // The output and error files belong to the key that created the batch.
    const fileOwner = owner?.keyId;
    const outputFile = await storage.put({ filename: `${batch.id}_output.jsonl`, purpose: 'batch_output', owner: fileOwner }, jsonl(output));
    const errorFile = errors.length > 0 ? await storage.put({ filename: `${batch.id}_error.jsonl`, purpose: 'batch_output', owner: fileOwner }, jsonl(errors)) : undefined;
    const ended = now();
    const cancelled = batch.cancelling_at !== null;
    const expired = !cancelled && errors.some((line) => line.includes('"code":"batch_expired"'));
    const files = { output_file_id: outputFile.id, error_file_id: errorFile?.id ?? null };
    if (owner?.webhook) await store.markBatchNotice(batch.id, true);
    const final = await transitionBatch(store, batch.id, ['finalizing'], (b) =>
      cancelled ? { ...b, ...files, status: 'cancelled', cancelled_at: ended } : expired ? { ...b, ...files, status: 'expired', expired_at: ended } : { ...b, ...files, status: 'completed', completed_at: ended },
    );
    if (!final) return;
    await store.dropBatchLines(batch.id);
    log.info({ batchId: final.id, status: final.status, ...final.request_counts }, 'batch finished');
    await notify(final);
  }

  /**
   * A batch past its window (plus a grace for the last results in flight) that still waits on
   * some lines — their results lost, or never produced — ends expired: each missing line goes to
   * the error file as batch_expired.
   */
  async function expire(batch: Batch): Promise<void> {
    const { output, errors } = await store.batchLines(batch.id);
    const seen = new Set([...output, ...errors].map((line) => (JSON.parse(line) as { custom_id: string }).custom_id));
    const found = await storage.get(batch.input_file_id);
    if (found) {
      try {
        for await (const line of inputLines(found.content, feedStart)) {
          const customId = (JSON.parse(line.text) as { custom_id?: unknown }).custom_id;
          if (typeof customId !== 'string' || seen.has(customId)) continue;
          await store.recordBatchLine(batch.id, expiredLine(outputLineId(batchLineRequestId(batch.id, line.number)), customId));
        }
      } finally {
        found.content.destroy();
      }
    }
    const current = await store.getBatch(batch.id);
    if (current && !finalBatchStatuses.includes(current.status)) await finalize(current);
  }

  async function sweep(): Promise<void> {
    const pruned = await store.pruneBatches(Math.floor(Date.now() / 1000 - runtime.config.batches.retentionDays * 86_400));
    if (pruned > 0) log.info({ pruned, retentionDays: runtime.config.batches.retentionDays }, 'finished batches past their retention forgotten');
    for (const id of await store.pendingBatchNotices()) {
      const batch = await store.getBatch(id);
      if (batch && finalBatchStatuses.includes(batch.status)) await notify(batch);
    }
    const due = Date.now() / 1000 - runtime.config.batches.expiryGraceSeconds;
    let after: string | undefined;
    for (;;) {
      const page = await store.listBatches(after, 100);
      if ('unknownCursor' in page) return;
      for (const batch of page.batches) {
        if ((batch.status === 'in_progress' || batch.status === 'cancelling') && batch.expires_at !== null && batch.expires_at < due) {
          log.warn({ batchId: batch.id }, 'batch past its completion window with lines unaccounted for; ending it expired');
          await expire(batch);
        }
      }
      if (!page.hasMore) return;
      after = page.batches.at(-1)?.id;
    }
  }

  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweep()
      .catch((err: unknown) => log.warn({ err }, 'batch expiry sweep failed; trying again next interval'))
      .finally(() => (sweeping = false));
  }, runtime.config.batches.sweepIntervalMs);
  sweeper.unref();

  const consumer = await runtime.bus.consume({
    groupId: groupIds(runtime.config.prefix).batches,
    topics: [runtime.topics.results],
    concurrency,
    handle,
  });
  const feeder = startFeeder(runtime, storage, settle);
  return {
    stop: async (graceMs) => {
      clearInterval(sweeper);
      await Promise.all([consumer.stop(graceMs), feeder.stop()]);
    },
  };
}

async function* jsonl(lines: string[]): AsyncGenerator<Buffer> {
  for (const line of lines) yield Buffer.from(`${line}\n`);
}
