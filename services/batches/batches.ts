// The OpenAI Batch API (/v1/batches): create a batch from an uploaded input file, retrieve,
// list and cancel. Creating checks every line first (any bad line fails the whole batch, as
// OpenAI does); its lines then wait in the input file, and the feeder (feeder.ts) gives them to
// the batch topic a fair share at a time. The batch's progress and its output files are
// recorded from the results topic (progress.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { batchEndpoints, type Batch } from '#libs/contracts/batch.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { newRequestId } from '#libs/contracts/request-id.ts';
import type { FileStorage } from '#libs/storage/storage.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import type { ProviderRegistry } from '#libs/providers/registry.ts';
import { maxBatchLines } from '#services/files/upload.ts';
import { parseOrThrow } from '#services/ingest/validate.ts';
import { checkInputFile, inputLines, routeProblemFor } from './input-lines.ts';
import { disallowedModel } from '#libs/governance/terms.ts';
import { quotaMessage, spentBudget } from '#libs/governance/budget.ts';
import { feedStart } from '#libs/store/store.ts';
import { webhookOf } from '#services/ingest/webhook-header.ts';
import { transitionBatch } from './transition.ts';
import { anonymousClient, mayRead, type Client } from '#libs/http/client-auth.ts';

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

/** Also refuses a line whose model or fallbacks the client's key (or its team or customer) does not allow. */
function allowedRouteProblem(client: Client, registry: ProviderRegistry, routeProblem: ReturnType<typeof routeProblemFor>): ReturnType<typeof routeProblemFor> {
  const principal = client.principal;
  if (!principal) return routeProblem;
  return (body) => disallowedModel(principal, [body.model, ...(body.fallbacks ?? [])], (model) => registry.namesOf(model))?.message ?? routeProblem(body);
}

export function startBatches(runtime: Runtime, storage: FileStorage): { register(app: FastifyInstance): void } {
  const { store, registry, logger } = runtime;
  const log = logger.child({ service: 'batches' });

  async function create(req: FastifyRequest) {
    const params = parseOrThrow(createSchema, req.body);
    // A batch whose every line would be refused is refused whole.
    const over = req.client.principal ? await spentBudget(runtime.meter, req.client.principal) : undefined;
    if (over) throw new GatewayError(429, quotaMessage(over.subject, over.period), { code: 'insufficient_quota', type: 'insufficient_quota', headers: { 'x-should-retry': 'false' } });
    const found = await storage.get(params.input_file_id);
    // Another key's file is answered exactly as an unknown one.
    if (found && !mayRead(req.client, found.file.owner)) found.content.destroy();
    if (!found || !mayRead(req.client, found.file.owner)) throw new GatewayError(404, `No such File object: ${params.input_file_id}`, { code: 'file_not_found', param: 'input_file_id' });
    if (found.file.purpose !== 'batch') {
      found.content.destroy();
      throw new GatewayError(400, `The file ${params.input_file_id} has purpose '${found.file.purpose}'; a batch input file must have purpose 'batch'.`, { code: 'invalid_value', param: 'input_file_id' });
    }
    const now = Date.now();
    const id = `batch_${newRequestId(now).slice(4)}`;
    const createdAt = Math.floor(now / 1000);
    const deadline = now + runtime.config.batches.windowSeconds * 1000;
    const owner = { tenant: req.client.tenant, keyId: req.client.keyId, webhook: webhookOf(req, true, runtime.config.webhooks) };
    const { requests, errors } = await checkInputFile(inputLines(found.content, feedStart), params.endpoint, allowedRouteProblem(req.client, registry, routeProblemFor(registry)), maxBatchLines).finally(() => found.content.destroy());
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
      request_counts: { total: requests, completed: 0, failed: 0 },
      metadata: params.metadata ?? null,
    };
    if (errors.length > 0) {
      const failed: Batch = { ...base, status: 'failed', in_progress_at: null, failed_at: createdAt, errors: { object: 'list', data: errors }, request_counts: { total: 0, completed: 0, failed: 0 } };
      await store.createBatch(failed, owner);
      log.info({ batchId: id, errors: errors.length, firstLine: errors[0].line }, 'batch input file refused');
      return failed;
    }
    // The lines stay in the input file; the feeder (feeder.ts) gives them to Kafka a share at a time.
    await store.createBatch(base, owner);
    log.info({ batchId: id, requests, endpoint: params.endpoint, tenant: owner.tenant }, 'batch accepted');
    return base;
  }

  /** The batch, if this client may see it: another key's batch is answered exactly as an unknown one. */
  async function retrieveOrThrow(client: Client, id: string): Promise<Batch> {
    const [batch, owner] = await Promise.all([store.getBatch(id), client === anonymousClient ? undefined : store.batchOwner(id)]);
    if (!batch || !mayRead(client, owner?.keyId)) throw new GatewayError(404, `No such Batch object: ${id}`, { code: 'batch_not_found', param: 'id' });
    return batch;
  }

  async function cancel(req: FastifyRequest<{ Params: { id: string } }>) {
    const id = req.params.id;
    await retrieveOrThrow(req.client, id);
    const cancelling = await transitionBatch(store, id, ['in_progress'], (b) => ({ ...b, status: 'cancelling', cancelling_at: Math.floor(Date.now() / 1000) }));
    if (!cancelling) {
      const batch = await retrieveOrThrow(req.client, id);
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
    const page = await store.listBatches(parsed.data.after, parsed.data.limit, req.client === anonymousClient ? undefined : req.client.keyId);
    if ('unknownCursor' in page) throw new GatewayError(400, `Invalid value for 'after': no batch with id '${parsed.data.after ?? ''}'.`, { code: 'invalid_value', param: 'after' });
    return { object: 'list', data: page.batches, first_id: page.batches[0]?.id ?? null, last_id: page.batches.at(-1)?.id ?? null, has_more: page.hasMore };
  }

  return {
    register(app) {
      app.post('/v1/batches', create);
      app.get('/v1/batches', list);
      app.get<{ Params: { id: string } }>('/v1/batches/:id', (req) => retrieveOrThrow(req.client, req.params.id));
      app.post('/v1/batches/:id/cancel', cancel);
    },
  };
}
