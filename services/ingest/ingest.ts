// The ingest service: validates, assigns the request id and deadline, produces the envelope to
// Kafka, and relays the live answer to the waiting client. Events for its own requests arrive on
// its instance channel, subscribed once at start-up; the request is registered before it is
// produced, so no event can go unheard. A request started elsewhere (an Idempotency-Key retry)
// is followed on its own channel.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asGatewayError } from '#libs/http/app.ts';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { chatRequestSchema, type ChatRequest } from '#libs/contracts/chat.ts';
import { embeddingsRequestSchema } from '#libs/contracts/embeddings.ts';
import { envelopeVersion, type LiveEvent, type ReplyMode, type RequestEnvelope } from '#libs/contracts/envelope.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { newRequestId } from '#libs/contracts/request-id.ts';
import { BusUnavailableError } from '#libs/bus/bus.ts';
import { StoreUnavailableError } from '#libs/store/store.ts';
import { mayRead, type Client } from '#libs/http/client-auth.ts';
import { instanceId, type Runtime } from '#libs/runtime/runtime.ts';
import { parseOrThrow } from './validate.ts';
import { webhookOf } from './webhook-header.ts';
import { SyncWaiter, StreamWaiter, answerHeaders, type Waiter } from './relay.ts';
import { openAIDialect, openAIDialectWithIds, type Dialect } from './dialect.ts';
import { anthropicDialect } from './anthropic/dialect.ts';
import { anthropicError } from './anthropic/errors.ts';
import { anthropicToChat } from './anthropic/request.ts';
import { createRealtime } from './websocket.ts';
import { bindOrFind, idempotencyKeyOf, type IdempotencyClaim } from './idempotency.ts';
import { recordingSpan, traceProduce, traceServer } from '#libs/telemetry/tracing.ts';
import { disallowedModel, estimatedTokens, keyFallbacks } from '#libs/governance/terms.ts';
import { admit, releaseAdmission } from './admission.ts';

export interface IngestService {
  id: string;
  register(app: FastifyInstance): void;
  /** Requests whose answer this instance is still relaying. */
  waiting(): number;
  close(): Promise<void>;
}

/** How long past the deadline a client waits for the worker's own deadline result. */
const deadlineGraceMs = 1_000;
const timeoutHeader = 'x-spillway-timeout-ms';
const fallbackHeader = 'x-spillway-fallback';

/** `x-spillway-fallback: off` keeps one request on its primary target group. */
function fallbackSwitch(req: FastifyRequest): boolean {
  const raw = req.headers[fallbackHeader];
  if (raw === undefined) return false;
  if (raw === 'off') return true;
  if (raw === 'on') return false;
  throw new GatewayError(400, `Invalid ${fallbackHeader} header: expected 'on' or 'off', got '${String(raw)}'.`, { code: 'invalid_header', param: fallbackHeader });
}
/** `Prefer: respond-async` (RFC 7240) answers 202 with the request id instead of waiting. */
function wantsAsync(req: FastifyRequest): boolean {
  const raw = req.headers.prefer;
  return typeof raw === 'string' && raw.split(',').some((p) => p.trim().toLowerCase() === 'respond-async');
}

const cancelHeader = 'x-spillway-cancel-on-disconnect';

/** `x-spillway-cancel-on-disconnect: true` cancels the generation when the client goes away (by default it runs on, retrievable by id). */
function cancelsOnDisconnect(req: FastifyRequest): boolean {
  const raw = req.headers[cancelHeader];
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new GatewayError(400, `Invalid ${cancelHeader} header: expected 'true' or 'false', got '${String(raw)}'.`, { code: 'invalid_header', param: cancelHeader });
}

const streamIdsHeader = 'x-spillway-stream-ids';

/**
 * `x-spillway-stream-ids: true` puts each event's sequence number on a POST stream as `id:`, for
 * Last-Event-ID. Without it the stream is byte for byte OpenAI's, which has no `id:` lines.
 */
function wantsStreamIds(req: FastifyRequest): boolean {
  const raw = req.headers[streamIdsHeader];
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new GatewayError(400, `Invalid ${streamIdsHeader} header: expected 'true' or 'false', got '${String(raw)}'.`, { code: 'invalid_header', param: streamIdsHeader });
}

const priorityHeader = 'x-spillway-priority';

/** `x-spillway-priority: batch` queues the request behind interactive work (default: interactive). */
function priorityOf(req: FastifyRequest): 'interactive' | 'batch' {
  const raw = req.headers[priorityHeader];
  if (raw === undefined || raw === 'interactive') return 'interactive';
  if (raw === 'batch') return 'batch';
  throw new GatewayError(400, `Invalid ${priorityHeader} header: expected 'interactive' or 'batch', got '${String(raw)}'.`, { code: 'invalid_header', param: priorityHeader });
}

/** A route that accepts requests, run in a server span (the start of a request's trace). */
function traced(route: string, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  return (req, reply) => traceServer(req.raw, reply.raw, route, () => handler(req, reply));
}

/** The 202 an async submission gets: where and how to fetch the answer. */
function acceptedReply(reply: FastifyReply, requestId: string, model: string, createdAt: number): FastifyReply {
  return reply
    .status(202)
    .headers({ 'x-request-id': requestId, location: `/v1/requests/${requestId}` })
    .send({ id: requestId, object: 'spillway.request', status: 'queued', created_at: Math.floor(createdAt / 1000), model, result: null });
}

/** The sequence number a resumed stream starts after: `Last-Event-ID`, else `?after=`, else 0. */
function resumePoint(lastEventId: string | string[] | undefined, after: string | undefined): number {
  const raw = typeof lastEventId === 'string' ? lastEventId : after;
  if (raw === undefined || raw === '') return 0;
  const seq = Number(raw);
  if (!Number.isInteger(seq) || seq < 0) {
    throw new GatewayError(400, `Invalid resume point '${raw}': Last-Event-ID or 'after' must be a non-negative whole number (an SSE event id).`, { code: 'invalid_resume_point', param: 'after' });
  }
  return seq;
}

export async function startIngest(runtime: Runtime): Promise<IngestService> {
  const id = instanceId('ingest');
  const log = runtime.logger.child({ service: 'ingest', instance: id });
  const { config, registry, metrics, store } = runtime;
  const namesOf = (model: string): string[] => registry.namesOf(model);
  let waiting = 0;
  const local = new Map<string, { onEvent: (event: LiveEvent) => void; onResync: () => void }>();
  const unsubscribe = await store.subscribeInstance(
    id,
    (event) => local.get(event.id)?.onEvent(event),
    () => {
      for (const listener of local.values()) listener.onResync();
    },
  );

  type Listen = (onEvent: (event: LiveEvent) => void, onResync: () => void) => Promise<() => Promise<void>>;
  const listenLocally =
    (requestId: string): Listen =>
    async (onEvent, onResync) => {
      local.set(requestId, { onEvent, onResync });
      return async () => {
        local.delete(requestId);
      };
    };
  const followRemote =
    (requestId: string): Listen =>
    (onEvent, onResync) =>
      store.follow(requestId, onEvent, onResync);

  function deadlineFor(req: FastifyRequest, now: number): number {
    const raw = req.headers[timeoutHeader];
    if (raw === undefined) return now + config.defaults.deadlineMs;
    const ms = Number(raw);
    if (!Number.isInteger(ms) || ms <= 0) {
      throw new GatewayError(400, `Invalid ${timeoutHeader} header: expected a positive whole number of milliseconds, got '${String(raw)}'.`, { code: 'invalid_header', param: timeoutHeader });
    }
    return now + ms;
  }

  /**
   * Records a request Kafka did not acknowledge in time as answered with the 503 its client gets.
   * The produce may still land later (the client library retries it); a worker that meets it
   * then finds this answer instead of running a request its client was told to send again.
   */
  async function refuse(envelope: RequestEnvelope, err: BusUnavailableError): Promise<GatewayError | 'accepted after all'> {
    const refusal = new GatewayError(503, 'The gateway cannot accept requests right now: its message bus is unavailable. Retry after a moment.', {
      code: 'bus_unavailable',
      type: 'service_unavailable',
      headers: { 'retry-after': '1', 'x-request-id': envelope.id },
    });
    const recorded = await store
      .refuse({
        v: envelopeVersion,
        id: envelope.id,
        status: 'failed',
        httpStatus: 503,
        error: refusal.body,
        errorHeaders: { 'retry-after': '1' },
        attempts: [],
        acceptedAt: envelope.acceptedAt,
        completedAt: Date.now(),
        ...(envelope.owner !== undefined ? { owner: envelope.owner } : {}),
      })
      .catch((storeErr: unknown) => {
        log.warn({ requestId: envelope.id, err: (storeErr as Error).message, cause: err.message }, 'could not record the refusal; a late copy of the request may still run');
        return true;
      });
    return recorded ? refusal : 'accepted after all';
  }

  /** Produces the envelope; only Kafka's acknowledgement makes the request accepted. */
  async function produce(envelope: RequestEnvelope, idempotency: IdempotencyClaim | undefined): Promise<void> {
    const topic = envelope.priority === 'batch' ? runtime.topics.batch : runtime.topics.interactive;
    try {
      // The bus carries the produce span's context to the worker in the message headers.
      await traceProduce(topic, envelope.id, () =>
        runtime.bus.produce(topic, [
          {
            key: envelope.id,
            value: JSON.stringify(envelope),
            headers: { 'spillway-request-id': envelope.id, 'spillway-deadline': String(envelope.deadline) },
          },
        ]),
      );
    } catch (err) {
      const refusal = err instanceof BusUnavailableError ? await refuse(envelope, err) : undefined;
      if (refusal === 'accepted after all') {
        log.warn({ requestId: envelope.id }, 'Kafka acknowledged too late, but a worker has begun the request; relaying its answer');
        return;
      }
      if (idempotency) await store.releaseIdempotencyKey(idempotency.key, envelope.id).catch(() => undefined);
      await releaseAdmission(runtime, envelope.owner, envelope.id);
      if (!refusal) throw err;
      log.error({ requestId: envelope.id, err: (err as Error).message }, 'request not accepted: Kafka unavailable');
      throw refusal;
    }
    // A synchronous or streaming client is waiting on this very exchange; the 'queued' state is
    // recorded for requests nobody waits on (async), which are the ones looked up by id.
    const accepted: Promise<void>[] = envelope.reply.mode === 'async' ? [store.setState(envelope.id, 'accepted', envelope.owner)] : [];
    if (idempotency) {
      accepted.push(store.updateIdempotencyKey(idempotency.key, { requestId: envelope.id, bodyHash: idempotency.bodyHash, state: 'accepted' }, config.idempotency.windowSeconds));
    }
    Promise.all(accepted).catch((err: unknown) => log.warn({ err, requestId: envelope.id }, 'could not record the accepted state'));
  }

  /**
   * Relays one request's answer to this HTTP exchange: follows its live channel, runs `start`
   * (producing it, for a new request), then, when attaching to a request already under way,
   * catches up from the stored result or the replay stream before taking live events.
   */
  async function relay(
    requestId: string,
    mode: ReplyMode,
    deadline: number,
    reply: FastifyReply,
    dialect: Dialect,
    listen: Listen,
    start: () => Promise<void>,
    catchUp: boolean,
    after = 0,
  ): Promise<unknown> {
    let release = (): void => undefined;
    const waiter: Waiter & { done?: Promise<unknown> } =
      mode === 'stream'
        ? new StreamWaiter(
            reply.raw,
            requestId,
            dialect,
            (status) => {
              release();
              metrics.httpRequests.inc({ route: reply.request.routeOptions.url ?? 'unmatched', status: String(status) });
            },
            () => catchUpFromStore(),
            after,
          )
        : new SyncWaiter();
    let buffered: LiveEvent[] | undefined = catchUp ? [] : undefined;
    /** Delivers what the live channel may have missed: the stored result, the replayed events. */
    const catchUpFromStore = async (): Promise<void> => {
      const [result, history] = await Promise.all([store.getResult(requestId), mode === 'stream' ? store.readEvents(requestId, after) : []]);
      for (const event of history) waiter.onEvent(event);
      if (result) waiter.onEvent({ id: requestId, seq: Number.MAX_SAFE_INTEGER, type: result.status === 'succeeded' ? 'done' : 'error', data: result });
    };
    let unfollow: () => Promise<void>;
    try {
      unfollow = await listen(
        (event) => (buffered ? buffered.push(event) : waiter.onEvent(event)),
        () => catchUpFromStore().catch((err: unknown) => log.warn({ err, requestId }, 'catch-up after a Redis reconnect failed')),
      );
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      log.error({ requestId, err: err.message }, 'request not accepted: Redis unavailable');
      throw new GatewayError(503, 'The gateway cannot deliver answers right now: its store is unavailable. Retry after a moment.', {
        code: 'store_unavailable',
        type: 'service_unavailable',
        headers: { 'retry-after': '1' },
      });
    }
    waiting++;
    const timer = setTimeout(() => waiter.onDeadline(), Math.max(0, deadline - Date.now()) + deadlineGraceMs);
    let released = false;
    release = () => {
      if (released) return;
      released = true;
      waiting--;
      clearTimeout(timer);
      unfollow().catch(() => undefined);
    };
    try {
      await start();
      if (buffered) {
        await catchUpFromStore();
        const live = buffered;
        buffered = undefined;
        for (const event of live) waiter.onEvent(event);
      }
    } catch (err) {
      release();
      throw err;
    }

    if (waiter instanceof StreamWaiter) {
      reply.hijack();
      // A client that goes away does not cancel the generation; its result stays retrievable by id.
      reply.raw.on('close', release);
      return reply;
    }
    const outcome = await (waiter as SyncWaiter).done;
    release();
    if (outcome === 'deadline') {
      throw new GatewayError(504, 'The request did not complete before its deadline.', { code: 'deadline_exceeded', headers: { 'x-request-id': requestId } });
    }
    const answer = dialect.answer(outcome);
    return reply.status(answer.status).headers(answerHeaders(requestId, outcome)).send(answer.body);
  }

  /**
   * The route a request names, checked before anything is accepted: model and fallbacks must
   * resolve, and the client's key (and its team and customer) must allow them. A request naming
   * no fallbacks gets its key's own, if it has any.
   */
  function routeOf(body: { model: string; fallbacks?: string[] | undefined }, noFallback: boolean, client: Client): RequestEnvelope['route'] {
    const principal = client.principal;
    const fallbacks = body.fallbacks ?? (principal ? keyFallbacks(principal, body.model) : undefined);
    const disallowed = principal ? disallowedModel(principal, [body.model, ...(fallbacks ?? [])], namesOf) : undefined;
    if (disallowed) throw new GatewayError(403, disallowed.message, { code: 'model_not_allowed', param: disallowed.index === 0 ? 'model' : 'fallbacks', type: 'invalid_request_error' });
    const chain = registry.chain({ model: body.model, fallbacks, noFallback });
    if (chain.main.length === 0) {
      throw new GatewayError(404, `The model \`${body.model}\` does not exist or no configured provider serves it.`, { code: 'model_not_found', param: 'model' });
    }
    const unknownFallback = (fallbacks ?? []).find((name) => chain.unresolved.includes(name));
    if (unknownFallback !== undefined) {
      throw new GatewayError(400, `Invalid value for 'fallbacks': no alias or configured provider serves \`${unknownFallback}\`.`, { code: 'model_not_found', param: 'fallbacks' });
    }
    return { model: body.model, fallbacks: fallbacks ?? [], noFallback };
  }

  /**
   * Accepts one request of any operation: resolves its route, honours Idempotency-Key, produces
   * it, and answers 202 (async) or relays its answer (sync or stream).
   */
  async function submit(req: FastifyRequest, reply: FastifyReply, request: Pick<RequestEnvelope, 'operation' | 'body'>, stream: boolean, dialect: Dialect = openAIDialect): Promise<unknown> {
    const body = request.body;
    const route = routeOf(body, fallbackSwitch(req), req.client);
    const now = Date.now();
    const deadline = deadlineFor(req, now);
    const async = wantsAsync(req);
    const priority = priorityOf(req);
    const cancelOnDisconnect = cancelsOnDisconnect(req);
    const webhook = webhookOf(req, async, config.webhooks);
    const mode: ReplyMode = async ? 'async' : stream ? 'stream' : 'sync';
    const requestId = newRequestId(now);
    const tenant = req.client.tenant;
    const idempotency = idempotencyKeyOf(req, req.client, body);
    const span = recordingSpan();
    span?.setAttributes({ 'spillway.request_id': requestId, 'spillway.priority': priority, 'gen_ai.operation.name': request.operation, 'gen_ai.request.model': body.model });
    if (idempotency) {
      const existing = await bindOrFind(store, idempotency, requestId, Math.ceil((config.kafka.produceTimeoutMs * 2) / 1000));
      if (existing) {
        span?.setAttribute('spillway.request_id', existing);
        log.info({ requestId: existing }, 'Idempotency-Key names an accepted request; answering from it');
        if (async) return acceptedReply(reply, existing, body.model, now);
        return relay(existing, mode, deadline, reply, dialect, followRemote(existing), async () => undefined, true);
      }
    }
    try {
      // Rate limits and budgets count only new requests: a replay above was not charged again.
      for (const [name, value] of Object.entries(await admit(runtime, req.client, requestId, estimatedTokens(request.operation, body)))) reply.raw.setHeader(name, value);
    } catch (err) {
      if (idempotency) await store.releaseIdempotencyKey(idempotency.key, requestId).catch(() => undefined);
      throw err;
    }
    const envelope = {
      v: envelopeVersion,
      id: requestId,
      tenant,
      owner: req.client.keyId,
      ...request,
      route,
      reply: async ? { mode, ...(webhook ? { webhook } : {}) } : { mode, to: id },
      acceptedAt: now,
      deadline,
      priority,
      ...(idempotency ? { idempotencyKey: idempotency.key } : {}),
      // Pick<> of the union loses the pairing of operation and body that the callers keep.
    } as RequestEnvelope;
    if (async) {
      await produce(envelope, idempotency);
      return acceptedReply(reply, requestId, body.model, now);
    }
    if (cancelOnDisconnect) {
      // The response closing before it finished means the client went away mid-answer.
      reply.raw.on('close', () => {
        if (reply.raw.writableFinished) return;
        log.info({ requestId }, 'client went away; cancelling the request as it asked');
        store.cancel(requestId).catch((err: unknown) => log.warn({ err, requestId }, 'could not cancel the request'));
      });
    }
    return relay(requestId, mode, deadline, reply, dialect, listenLocally(requestId), () => produce(envelope, idempotency), false);
  }

  /** A streaming chat request from the WebSocket transport: produced, its events followed by the socket. */
  async function enqueueStream(body: ChatRequest, timeoutMs: number | undefined, client: Client): Promise<string> {
    const now = Date.now();
    const route = routeOf(body, false, client);
    const requestId = newRequestId(now);
    await admit(runtime, client, requestId, estimatedTokens('chat', body));
    const envelope: RequestEnvelope = {
      v: envelopeVersion,
      id: requestId,
      tenant: client.tenant,
      owner: client.keyId,
      operation: 'chat',
      body,
      route,
      reply: { mode: 'stream' },
      acceptedAt: now,
      deadline: now + (timeoutMs ?? config.defaults.deadlineMs),
      priority: 'interactive',
    };
    await produce(envelope, undefined);
    return envelope.id;
  }

  const realtime = createRealtime({ ...config.realtime, store, logger: log, auth: runtime.auth, maxFrameBytes: config.server.bodyLimitBytes, enqueue: enqueueStream });

  async function chatCompletions(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const body = parseOrThrow(chatRequestSchema, req.body);
    // An async request's answer is a whole completion, fetched later: it is not streamed.
    if (wantsAsync(req)) delete body.stream;
    return submit(req, reply, { operation: 'chat', body }, body.stream === true, wantsStreamIds(req) ? openAIDialectWithIds : openAIDialect);
  }

  /** Anthropic's Messages API, served by whichever provider the route picks. */
  async function anthropicMessages(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const body = anthropicToChat(req.body);
    return submit(req, reply, { operation: 'chat', body }, body.stream === true, anthropicDialect(body.model));
  }

  /**
   * A request's events as an SSE stream, from the start or after the sequence number in
   * `Last-Event-ID` (or `?after=`): for a request still running, and for a finished one within
   * the replay window. A request that was not streamed comes as one chunk with its whole answer.
   * Its events always carry `id:`: this is what a browser's EventSource reconnects to.
   */
  async function resumeStream(req: FastifyRequest<{ Params: { id: string }; Querystring: { after?: string } }>, reply: FastifyReply): Promise<unknown> {
    const requestId = req.params.id;
    const after = resumePoint(req.headers['last-event-id'], req.query.after);
    const [result, state] = await Promise.all([store.getResult(requestId), store.getState(requestId)]);
    // Another key's request is answered exactly as an unknown one. Replayed events alone name no
    // owner: only an open API follows those.
    const known = result || state ? mayRead(req.client, result ? result.owner : state?.owner) : mayRead(req.client, undefined) && (await store.readEvents(requestId, 0)).length > 0;
    if (!known) {
      throw new GatewayError(404, `No request with id '${requestId}' is known (it may have expired, or not have started yet).`, { code: 'request_not_found', param: 'id' });
    }
    return relay(requestId, 'stream', Date.now() + config.defaults.deadlineMs, reply, openAIDialectWithIds, followRemote(requestId), async () => undefined, true, after);
  }

  async function embeddings(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const body = parseOrThrow(embeddingsRequestSchema, req.body);
    return submit(req, reply, { operation: 'embeddings', body }, false);
  }

  return {
    id,
    waiting: () => waiting,
    register(app) {
      app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (!realtime.handleUpgrade(req, socket, head)) socket.destroy();
      });
      app.post('/v1/chat/completions', traced('/v1/chat/completions', chatCompletions));
      app.post('/v1/embeddings', traced('/v1/embeddings', embeddings));
      app.get('/v1/requests/:id/stream', resumeStream);
      // The Anthropic surface answers every error, the framework's included, in Anthropic's shape.
      void app.register(async (anthropic) => {
        anthropic.setErrorHandler((err: FastifyError | GatewayError, req, reply) => {
          const error = asGatewayError(err, req, config.server.bodyLimitBytes);
          return reply.status(error.status).headers(error.headers).send(anthropicError(error.status, error.body));
        });
        anthropic.post('/anthropic/v1/messages', traced('/anthropic/v1/messages', anthropicMessages));
        anthropic.post('/v1/messages', traced('/v1/messages', anthropicMessages));
      });
      // Only the models the caller's key may use: the others do not exist for it.
      const models = (client: Client) =>
        registry
          .listModels()
          .filter((m) => !client.principal || !disallowedModel(client.principal, [m.id], namesOf))
          .map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: m.owned_by }));
      app.get('/v1/models', async (req) => ({ object: 'list', data: models(req.client) }));
      app.get<{ Params: { '*': string } }>('/v1/models/*', async (req) => {
        const model = models(req.client).find((m) => m.id === req.params['*']);
        if (!model) throw new GatewayError(404, `The model '${req.params['*']}' does not exist.`, { code: 'model_not_found', param: 'model' });
        return model;
      });
    },
    async close() {
      await realtime.close();
      await unsubscribe();
    },
  };
}
