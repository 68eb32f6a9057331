// The ingest service: authenticates (later), validates, assigns the request id and deadline,
// produces the envelope to Kafka, and relays the live answer to the waiting client. It listens
// on its own instance channel before producing, so no event can arrive unheard.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { chatRequestSchema } from '#libs/contracts/chat.ts';
import { envelopeVersion, type LiveEvent, type RequestEnvelope } from '#libs/contracts/envelope.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { newRequestId } from '#libs/contracts/request-id.ts';
import { BusUnavailableError } from '#libs/bus/bus.ts';
import { instanceId, type Runtime } from '#libs/runtime/runtime.ts';
import { parseOrThrow } from './validate.ts';
import { SyncWaiter, StreamWaiter, answerBody, answerHeaders, type Waiter } from './relay.ts';

export interface IngestService {
  id: string;
  register(app: FastifyInstance): void;
  /** Requests whose answer this instance is still waiting for. */
  waiting(): number;
  close(): Promise<void>;
}

/** How long past the deadline a synchronous client waits for the worker's own deadline result. */
const deadlineGraceMs = 1_000;
const timeoutHeader = 'x-spillway-timeout-ms';

export async function startIngest(runtime: Runtime): Promise<IngestService> {
  const id = instanceId('ingest');
  const log = runtime.logger.child({ service: 'ingest', instance: id });
  const waiters = new Map<string, Waiter>();
  const unsubscribe = await runtime.store.subscribeInstance(id, (event: LiveEvent) => waiters.get(event.id)?.onEvent(event));
  const { config, registry, metrics } = runtime;

  function deadlineFor(req: FastifyRequest, now: number): number {
    const raw = req.headers[timeoutHeader];
    if (raw === undefined) return now + config.defaults.deadlineMs;
    const ms = Number(raw);
    if (!Number.isInteger(ms) || ms <= 0) {
      throw new GatewayError(400, `Invalid ${timeoutHeader} header: expected a positive whole number of milliseconds, got '${String(raw)}'.`, { code: 'invalid_header', param: timeoutHeader });
    }
    return now + ms;
  }

  async function accept(envelope: RequestEnvelope, waiter: Waiter): Promise<() => void> {
    waiters.set(envelope.id, waiter);
    try {
      await runtime.bus.produce(envelope.priority === 'batch' ? runtime.topics.batch : runtime.topics.interactive, [
        {
          key: envelope.id,
          value: JSON.stringify(envelope),
          headers: { 'spillway-request-id': envelope.id, 'spillway-deadline': String(envelope.deadline) },
        },
      ]);
    } catch (err) {
      waiters.delete(envelope.id);
      if (!(err instanceof BusUnavailableError)) throw err;
      log.error({ requestId: envelope.id, err: err.message }, 'request not accepted: Kafka unavailable');
      throw new GatewayError(503, 'The gateway cannot accept requests right now: its message bus is unavailable. Retry after a moment.', {
        code: 'bus_unavailable',
        type: 'service_unavailable',
        headers: { 'retry-after': '1', 'x-request-id': envelope.id },
      });
    }
    runtime.store.setState(envelope.id, 'accepted').catch((err: unknown) => log.warn({ err, requestId: envelope.id }, 'could not record the accepted state'));
    const timer = setTimeout(() => waiter.onDeadline(), Math.max(0, envelope.deadline - Date.now()) + deadlineGraceMs);
    return () => {
      clearTimeout(timer);
      waiters.delete(envelope.id);
    };
  }

  async function chatCompletions(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const body = parseOrThrow(chatRequestSchema, req.body);
    if (!registry.resolve(body.model)) {
      throw new GatewayError(404, `The model \`${body.model}\` does not exist or no configured provider serves it.`, { code: 'model_not_found', param: 'model' });
    }
    const now = Date.now();
    const requestId = newRequestId(now);
    const mode = body.stream ? 'stream' : 'sync';
    const envelope: RequestEnvelope = {
      v: envelopeVersion,
      id: requestId,
      tenant: 'default',
      operation: 'chat',
      body,
      route: { model: body.model, fallbacks: body.fallbacks ?? [] },
      reply: { mode, to: id },
      acceptedAt: now,
      deadline: deadlineFor(req, now),
      priority: 'interactive',
    };

    if (mode === 'stream') {
      let release = (): void => undefined;
      const waiter = new StreamWaiter(reply.raw, requestId, (status) => {
        release();
        metrics.httpRequests.inc({ route: '/v1/chat/completions', status: String(status) });
      });
      release = await accept(envelope, waiter);
      reply.hijack();
      // A client that goes away does not cancel the generation; its result stays retrievable by id.
      reply.raw.on('close', release);
      return reply;
    }

    const waiter = new SyncWaiter();
    const release = await accept(envelope, waiter);
    const outcome = await waiter.done;
    release();
    if (outcome === 'deadline') {
      throw new GatewayError(504, 'The request did not complete before its deadline.', { code: 'deadline_exceeded', headers: { 'x-request-id': requestId } });
    }
    return reply.status(outcome.httpStatus).headers(answerHeaders(requestId, outcome)).send(answerBody(outcome));
  }

  return {
    id,
    waiting: () => waiters.size,
    register(app) {
      app.post('/v1/chat/completions', chatCompletions);
      const models = () => registry.listModels().map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.owned_by }));
      app.get('/v1/models', async () => ({ object: 'list', data: models() }));
      app.get<{ Params: { '*': string } }>('/v1/models/*', async (req) => {
        const model = models().find((m) => m.id === req.params['*']);
        if (!model) throw new GatewayError(404, `The model '${req.params['*']}' does not exist.`, { code: 'model_not_found', param: 'model' });
        return model;
      });
    },
    async close() {
      await unsubscribe();
    },
  };
}
