// Batch progress: reads the results topic in a consumer group of its own and records every
// result that belongs to a batch — once per custom_id, so a redelivery counts nothing twice.
// The result that accounts for a batch's last line finalises it: the output and error files
// are written to file storage and the batch ends completed, cancelled or expired.
import { text } from 'node:stream/consumers';
import { readResult, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { finalBatchStatuses, type Batch } from '#libs/contracts/batch.ts';
import { groupIds } from '#libs/bus/topics.ts';
import type { BusMessage } from '#libs/bus/bus.ts';
import type { FileStorage } from '#libs/storage/storage.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { batchLineOutcome, expiredLine } from './output-lines.ts';
import { transitionBatch } from './transition.ts';

/** A batch left 'finalizing' this long is taken over: whoever was finalising it died. */
const finalizingStaleSeconds = 30;
const concurrency = 64;

export interface BatchProgress {
  stop(graceMs?: number): Promise<void>;
}

export async function startBatchProgress(runtime: Runtime, storage: FileStorage): Promise<BatchProgress> {
  const { store } = runtime;
  const log = runtime.logger.child({ service: 'batches' });

  async function handle(message: BusMessage): Promise<void> {
    const result = readResult(message.value);
    if (result?.batch) await record(result, result.batch.id, result.batch.customId);
  }

  async function record(result: ResultEnvelope, batchId: string, customId: string): Promise<void> {
    const recorded = await store.recordBatchLine(batchId, batchLineOutcome(result, customId));
    const batch = await store.getBatch(batchId);
    if (!batch) {
      log.warn({ batchId, requestId: result.id }, 'a result names a batch that is not known; ignored');
      return;
    }
    if (finalBatchStatuses.includes(batch.status) || recorded < batch.request_counts.total) return;
    await finalize(batch);
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
    const { output, errors } = await store.batchLines(batch.id);
    const outputFile = await storage.put({ filename: `${batch.id}_output.jsonl`, purpose: 'batch_output' }, jsonl(output));
    const errorFile = errors.length > 0 ? await storage.put({ filename: `${batch.id}_error.jsonl`, purpose: 'batch_output' }, jsonl(errors)) : undefined;
    const ended = now();
    const cancelled = batch.cancelling_at !== null;
    const expired = !cancelled && errors.some((line) => line.includes('"code":"batch_expired"'));
    const files = { output_file_id: outputFile.id, error_file_id: errorFile?.id ?? null };
    const final = await transitionBatch(store, batch.id, ['finalizing'], (b) =>
      cancelled ? { ...b, ...files, status: 'cancelled', cancelled_at: ended } : expired ? { ...b, ...files, status: 'expired', expired_at: ended } : { ...b, ...files, status: 'completed', completed_at: ended },
    );
    if (!final) return;
    await store.dropBatchLines(batch.id);
    log.info({ batchId: final.id, status: final.status, ...final.request_counts }, 'batch finished');
  }

  /**
   * A batch past its window (plus a grace for the last results in flight) that still waits on
   * some lines — their results lost, or never produced — ends expired: each missing line goes to
   * the error file as batch_expired.
   */
  async function expire(batch: Batch): Promise<void> {
    const found = await storage.get(batch.input_file_id);
    const input = found ? await text(found.content) : '';
    const { output, errors } = await store.batchLines(batch.id);
    const seen = new Set([...output, ...errors].map((line) => (JSON.parse(line) as { custom_id: string }).custom_id));
    for (const [i, raw] of input.split('\n').entries()) {
      const customId = raw.trim() === '' ? undefined : (JSON.parse(raw) as { custom_id?: unknown }).custom_id;
      if (typeof customId !== 'string' || seen.has(customId)) continue;
      await store.recordBatchLine(batch.id, expiredLine(`batch_req_${batch.id.replace(/^batch_/, '')}_${i + 1}`, customId));
    }
    const current = await store.getBatch(batch.id);
    if (current && !finalBatchStatuses.includes(current.status)) await finalize(current);
  }

  async function sweep(): Promise<void> {
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
  return {
    stop: (graceMs) => {
      clearInterval(sweeper);
      return consumer.stop(graceMs);
    },
  };
}

async function* jsonl(lines: string[]): AsyncGenerator<Buffer> {
  for (const line of lines) yield Buffer.from(`${line}\n`);
}
