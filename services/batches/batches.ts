// The OpenAI Batch API (/v1/batches): create a batch from an uploaded input file, retrieve,
// list and cancel. Creating checks every line first (any bad line fails the whole batch, as
// OpenAI does), then produces one request envelope per line to the batch topic. The batch's
// progress and its output files are recorded from the results topic (progress.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { text } from 'node:stream/consumers';
import { z } from 'zod';
import { batchEndpoints, type Batch, type BatchError } from '#libs/contracts/batch.ts';
import { envelopeVersion, type RequestEnvelope } from '#libs/contracts/envelope.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { newRequestId } from '#libs/contracts/request-id.ts';
import type { FileStorage } from '#libs/storage/storage.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { maxBatchLines } from '#services/files/upload.ts';
import { parseOrThrow } from '#services/ingest/validate.ts';
import { checkInputFile } from './input-lines.ts';
import { transitionBatch } from './transition.ts';

/** Envelopes per produce call: big enough to be quick, small enough for one Kafka request. */
const produceChunk = 500;

const createSchema = z.object({
  input_file_id: z.string().min(1),
  endpoint: z.enum(batchEndpoints),
  completion_window: z.literal('24h'),
  metadata: z.record(z.string(), z.string().max(512)).nullish(),
});

const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().min(1).optional(),
});

export function startBatches(runtime: Runtime, storage: FileStorage): { register(app: FastifyInstance): void } {
  const { store, registry, logger } = runtime;
  const log = logger.child({ service: 'batches' });

  function routeProblem(body: { model: string; fallbacks?: string[] | undefined }): string | undefined {
    const chain = registry.chain({ model: body.model, fallbacks: body.fallbacks, noFallback: false });
    if (chain.main.length === 0) return `The model \`${body.model}\` does not exist or no configured provider serves it.`;
    const unknown = (body.fallbacks ?? []).find((name) => chain.unresolved.includes(name));
    return unknown === undefined ? undefined : `No alias or configured provider serves the fallback \`${unknown}\`.`;
  }

  async function create(req: FastifyRequest) {
    const params = parseOrThrow(createSchema, req.body);
    const found = await storage.get(params.input_file_id);
    if (!found) throw new GatewayError(404, `No such File object: ${params.input_file_id}`, { code: 'file_not_found', param: 'input_file_id' });
    if (found.file.purpose !== 'batch') {
      found.content.destroy();
      throw new GatewayError(400, `The file ${params.input_file_id} has purpose '${found.file.purpose}'; a batch input file must have purpose 'batch'.`, { code: 'invalid_value', param: 'input_file_id' });
    }
    const now = Date.now();
    const id = `batch_${newRequestId(now).slice(4)}`;
    const createdAt = Math.floor(now / 1000);
    const deadline = now + runtime.config.batches.windowSeconds * 1000;
    const { requests, errors } = checkInputFile(await text(found.content), params.endpoint, routeProblem, maxBatchLines);
    const base: Batch = {
      id,
      object: 'batch',
      endpoint: params.endpoint,
      errors: null,
      input_file_id: params.input_file_id,
      completion_window: params.completion_window,
      status: 'in_progress',
      output_file_id: null,
      error_file_id: null,
      created_at: createdAt,
      in_progress_at: createdAt,
      expires_at: Math.floor(deadline / 1000),
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: requests.length, completed: 0, failed: 0 },
      metadata: params.metadata ?? null,
    };
    if (errors.length > 0) {
      const failed: Batch = { ...base, status: 'failed', in_progress_at: null, failed_at: createdAt, errors: { object: 'list', data: errors }, request_counts: { total: 0, completed: 0, failed: 0 } };
      await store.createBatch(failed);
      log.info({ batchId: id, errors: errors.length, firstLine: errors[0].line }, 'batch input file refused');
      return failed;
    }
    // Stored before any request is produced, so the first result always finds its batch.
    await store.createBatch(base);
    const envelopes: RequestEnvelope[] = requests.map(
      (line) =>
        ({
          v: envelopeVersion,
          id: newRequestId(now),
          tenant: 'default',
          ...line.request,
          route: { model: line.request.body.model, fallbacks: line.request.body.fallbacks ?? [], noFallback: false },
          reply: { mode: 'async' },
          acceptedAt: now,
          deadline,
          priority: 'batch',
          batch: { id, customId: line.customId },
          // Pick<> of the union loses the pairing of operation and body that the line keeps.
        }) as RequestEnvelope,
    );
    try {
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
    } catch (err) {
      // Requests already produced run, but their batch, failed, records nothing more.
      log.error({ batchId: id, err: (err as Error).message }, 'batch requests not accepted: Kafka unavailable');
      const error: BatchError = { code: 'bus_unavailable', message: 'The gateway could not queue the batch: its message bus is unavailable. Create the batch again.', line: null, param: null };
      return (await transitionBatch(store, id, ['in_progress'], (b) => ({ ...b, status: 'failed', failed_at: Math.floor(Date.now() / 1000), errors: { object: 'list', data: [error] } }))) ?? (await retrieveOrThrow(id));
    }
    log.info({ batchId: id, requests: envelopes.length, endpoint: params.endpoint }, 'batch accepted');
    return base;
  }

  async function retrieveOrThrow(id: string): Promise<Batch> {
    const batch = await store.getBatch(id);
    if (!batch) throw new GatewayError(404, `No such Batch object: ${id}`, { code: 'batch_not_found', param: 'id' });
    return batch;
  }

  async function cancel(req: FastifyRequest<{ Params: { id: string } }>) {
    const id = req.params.id;
    await retrieveOrThrow(id);
    const cancelling = await transitionBatch(store, id, ['in_progress'], (b) => ({ ...b, status: 'cancelling', cancelling_at: Math.floor(Date.now() / 1000) }));
    if (!cancelling) {
      const batch = await retrieveOrThrow(id);
      if (batch.status === 'cancelling' || batch.status === 'cancelled') return batch;
      throw new GatewayError(409, `Cannot cancel a batch with status '${batch.status}'.`, { code: 'batch_not_cancellable', param: 'id' });
    }
    // Workers skip the batch's requests that have not started; each still yields a result, so the batch finalises.
    await store.cancel(id);
    log.info({ batchId: id }, 'batch cancelling');
    return cancelling;
  }

  async function list(req: FastifyRequest) {
    const parsed = listQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      const param = String(parsed.error.issues[0]?.path[0] ?? '');
      throw new GatewayError(400, `Invalid value for '${param}': ${parsed.error.issues[0]?.message ?? 'invalid'}.`, { code: 'invalid_value', param });
    }
    const page = await store.listBatches(parsed.data.after, parsed.data.limit);
    if ('unknownCursor' in page) throw new GatewayError(400, `Invalid value for 'after': no batch with id '${parsed.data.after ?? ''}'.`, { code: 'invalid_value', param: 'after' });
    return { object: 'list', data: page.batches, first_id: page.batches[0]?.id ?? null, last_id: page.batches.at(-1)?.id ?? null, has_more: page.hasMore };
  }

  return {
    register(app) {
      app.post('/v1/batches', create);
      app.get('/v1/batches', list);
      app.get<{ Params: { id: string } }>('/v1/batches/:id', (req) => retrieveOrThrow(req.params.id));
      app.post('/v1/batches/:id/cancel', cancel);
    },
  };
}
