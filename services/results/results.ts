// The results service: consumes the durable record (spillway.results), keeps every result
// queryable in the store, and answers GET /v1/requests/{id}.
import type { FastifyInstance } from 'fastify';
import { resultEnvelopeSchema, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { groupIds } from '#libs/bus/topics.ts';
import { deadLetter } from '#libs/bus/dead-letter.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';

export interface ResultsService {
  register(app: FastifyInstance): void;
  stop(graceMs?: number): Promise<void>;
}

export async function startResults(runtime: Runtime): Promise<ResultsService> {
  const log = runtime.logger.child({ service: 'results' });
  const consumer = await runtime.bus.consume({
    groupId: groupIds(runtime.config.prefix).results,
    topics: [runtime.topics.results],
    concurrency: 64,
    handle: async (message) => {
      const parsed = resultEnvelopeSchema.safeParse(safeJson(message.value.toString('utf8')));
      if (!parsed.success) {
        log.error({ offset: message.offset, partition: message.partition }, 'a result is not a valid result envelope; sent to the dead-letter topic');
        runtime.metrics.deadLetters.inc({ reason: 'invalid_result' });
        await deadLetter(runtime.bus, runtime.topics.dlq, message, parsed.error.message);
        return;
      }
      await runtime.store.saveResult(parsed.data);
      log.debug({ requestId: parsed.data.id, status: parsed.data.status }, 'result recorded');
    },
  });

  return {
    register(app) {
      app.get<{ Params: { id: string } }>('/v1/requests/:id', async (req, reply) => {
        const id = req.params.id;
        const result = await runtime.store.getResult(id);
        if (result) return reply.send(requestView(id, result));
        const state = await runtime.store.getState(id);
        if (state) return reply.send({ id, object: 'spillway.request', status: state === 'accepted' ? 'queued' : 'in_progress', result: null });
        throw new GatewayError(404, `No request with id '${id}' is known (it may have expired).`, { code: 'request_not_found', param: 'id' });
      });
    },
    stop: (graceMs) => consumer.stop(graceMs),
  };
}

function requestView(id: string, result: ResultEnvelope): Record<string, unknown> {
  return {
    id,
    object: 'spillway.request',
    status: result.status === 'succeeded' ? 'completed' : 'failed',
    created_at: Math.floor(result.acceptedAt / 1000),
    completed_at: Math.floor(result.completedAt / 1000),
    http_status: result.httpStatus,
    provider: result.provider ?? null,
    model: result.model ?? null,
    response: result.response ?? null,
    error: result.error ?? null,
    usage: result.usage ?? null,
    attempts: result.attempts,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
