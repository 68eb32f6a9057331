// The results service: consumes the durable record (spillway.results), keeps every result
// queryable in the store, and answers GET /v1/requests/{id}. Webhooks are delivered alongside,
// from the same topic in a consumer group of their own (webhooks.ts), and so is batch progress
// (services/batches/progress.ts), and spend is counted from the usage topic (usage-counter.ts).
import type { FastifyInstance } from 'fastify';
import { resultEnvelopeSchema } from '#libs/contracts/envelope.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { mayRead } from '#libs/http/client-auth.ts';
import { groupIds } from '#libs/bus/topics.ts';
import { deadLetter } from '#libs/bus/dead-letter.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { requestView } from './request-view.ts';
import { startWebhooks } from './webhooks.ts';
import { startUsageCounter } from './usage-counter.ts';
import { DirectoryStorage } from '#libs/storage/directory.ts';
import { startBatchProgress } from '#services/batches/progress.ts';
import { failSpan, traceConsume } from '#libs/telemetry/tracing.ts';
import { safeJson } from '#libs/contracts/safe-json.ts';

export interface ResultsService {
  register(app: FastifyInstance): void;
  stop(graceMs?: number): Promise<void>;
}

export async function startResults(runtime: Runtime): Promise<ResultsService> {
  const log = runtime.logger.child({ service: 'results' });
  const groupId = groupIds(runtime.config.prefix).results;
  const consumer = await runtime.bus.consume({
    groupId,
    topics: [runtime.topics.results],
    concurrency: 64,
    // Recording a result ends its request's trace: the span continues the worker's produce.
    handle: (message) =>
      traceConsume(message, groupId, async (span) => {
        const parsed = resultEnvelopeSchema.safeParse(safeJson(message.value.toString('utf8')));
        if (!parsed.success) {
          failSpan(span, 'invalid_result');
          log.error({ offset: message.offset, partition: message.partition }, 'a result is not a valid result envelope; sent to the dead-letter topic');
          runtime.metrics.deadLetters.inc({ reason: 'invalid_result' });
          await deadLetter(runtime.bus, runtime.topics.dlq, message, parsed.error.message);
          return;
        }
        if (span.isRecording()) span.setAttribute('spillway.status', parsed.data.status);
        await runtime.store.saveResult(parsed.data);
        log.debug({ requestId: parsed.data.id, status: parsed.data.status }, 'result recorded');
      }),
  });

  const webhooks = await startWebhooks(runtime).catch(async (err: unknown) => {
    await consumer.stop(0);
    throw err;
  });
  const batches = await startBatchProgress(runtime, new DirectoryStorage(runtime.config.files.dir), webhooks.send).catch(async (err: unknown) => {
    await Promise.all([consumer.stop(0), webhooks.stop(0)]);
    throw err;
  });
  const usage = await startUsageCounter(runtime).catch(async (err: unknown) => {
    await Promise.all([consumer.stop(0), webhooks.stop(0), batches.stop(0)]);
    throw err;
  });

  return {
    register(app) {
      app.get<{ Params: { id: string } }>('/v1/requests/:id', async (req, reply) => {
        const id = req.params.id;
        // Another key's request is answered exactly as an unknown one.
        const result = await runtime.store.getResult(id);
        if (result && mayRead(req.client, result.owner)) return reply.send(requestView(id, result));
        const status = result ? undefined : await runtime.store.getState(id);
        if (status && mayRead(req.client, status.owner)) {
          return reply.send({ id, object: 'spillway.request', status: status.state === 'accepted' ? 'queued' : 'in_progress', result: null });
        }
        throw new GatewayError(404, `No request with id '${id}' is known (it may have expired).`, { code: 'request_not_found', param: 'id' });
      });
    },
    async stop(graceMs) {
      await Promise.all([consumer.stop(graceMs), webhooks.stop(graceMs), batches.stop(graceMs), usage.stop(graceMs)]);
    },
  };
}
