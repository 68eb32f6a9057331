// Streamed completions over WebSocket (`GET /v1/realtime`, JSON text frames; the protocol is in
// the README). Several requests share one socket; `subscribe` attaches to any request's stream
// from a sequence number, whichever transport started it. Every event carries the request id and
// its sequence number, so a client that reconnects resubscribes from the last one it has.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { chatRequestSchema, type ChatRequest } from '#libs/contracts/chat.ts';
import type { LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';
import { GatewayError, type OpenAIError } from '#libs/contracts/openai-error.ts';
import { anonymousClient, keySubprotocolPrefix, mayRead, presentedKey, type Client } from '#libs/http/client-auth.ts';
import type { AccountDirectory } from '#libs/governance/directory.ts';
import type { Store } from '#libs/store/store.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import { failureOf } from './dialect.ts';
import { parseOrThrow } from './validate.ts';

export const realtimePath = '/v1/realtime';

/** Close codes, as documented in the README. */
export const closeCodes = {
  normal: 1000,
  /** The server is shutting down: reconnect (to any instance) and resubscribe. */
  restarting: 1012,
  /** The client read too slowly: its unsent frames passed the buffer limit. */
  slowConsumer: 1008,
  /** No request in flight and no frame for the idle timeout. */
  idle: 4000,
} as const;

const clientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('request'), ref: z.string().min(1).max(128), body: z.unknown(), timeoutMs: z.number().int().positive().optional() }),
  z.object({ type: z.literal('subscribe'), id: z.string().min(1).max(128), after: z.number().int().min(0).default(0) }),
  z.object({ type: z.literal('unsubscribe'), id: z.string().min(1).max(128) }),
  z.object({ type: z.literal('cancel'), id: z.string().min(1).max(128) }),
]);

export interface RealtimeOptions {
  store: Store;
  logger: Logger;
  auth: AccountDirectory;
  maxFrameBytes: number;
  /** Accepts a streaming chat request and resolves with its id once Kafka has it. */
  enqueue: (body: ChatRequest, timeoutMs: number | undefined, client: Client) => Promise<string>;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  /** Unsent bytes a client may fall behind by before it is closed as a slow consumer. */
  maxBufferedBytes: number;
}

export interface Realtime {
  /** Takes the HTTP upgrade for the realtime path; false for any other path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  open(): number;
  /** Closes every socket with 1012, so clients reconnect elsewhere and resubscribe. */
  close(): Promise<void>;
}

export function createRealtime(opts: RealtimeOptions): Realtime {
  const log = opts.logger.child({ component: 'realtime' });
  const { pingIntervalMs, idleTimeoutMs, maxBufferedBytes } = opts;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxFrameBytes,
    // A browser sends its key as a subprotocol; the one echoed back is the plain protocol name.
    handleProtocols: (protocols) => (protocols.has('spillway') ? 'spillway' : false),
  });
  const sockets = new Set<WebSocket>();

  const reject = (socket: Duplex, error: GatewayError): void => {
    const body = JSON.stringify({ error: error.body });
    socket.end(`HTTP/1.1 ${error.status} ${error.status === 401 ? 'Unauthorized' : 'Service Unavailable'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  };

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((req.url ?? '').split('?')[0] !== realtimePath) return false;
    opts.auth.authenticate(presentedKey(req.headers)).then(
      (client) => {
        if (client instanceof GatewayError && client.status !== 401) {
          reject(socket, client);
          return;
        }
        if (client instanceof GatewayError) {
          const help = `${client.body.message} From a browser, send the key as the subprotocol "${keySubprotocolPrefix}<key>" beside "spillway".`;
          reject(socket, new GatewayError(401, help, { code: client.body.code ?? 'invalid_api_key', type: client.body.type }));
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => serve(ws, client));
      },
      (err: unknown) => {
        log.warn({ err: (err as Error).message }, 'could not check a realtime client key');
        reject(socket, new GatewayError(503, 'The gateway cannot check API keys right now. Retry after a moment.', { code: 'store_unavailable', type: 'service_unavailable' }));
      },
    );
    return true;
  }

  function serve(ws: WebSocket, client: Client): void {
    sockets.add(ws);
    const subscriptions = new Map<string, () => Promise<void>>();
    /** Requests this socket sent: its own, though no worker may have recorded them yet. */
    const sent = new Set<string>();
    let alive = true;
    let idleTimer: NodeJS.Timeout | undefined;

    const send = (frame: Record<string, unknown>): void => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > maxBufferedBytes) {
        log.warn({ bufferedBytes: ws.bufferedAmount }, 'closing a realtime client that reads too slowly');
        ws.close(closeCodes.slowConsumer, 'slow consumer: resubscribe from your last sequence number');
        return;
      }
      ws.send(JSON.stringify(frame));
    };
    const sendError = (status: number, error: OpenAIError, where: { ref?: string; id?: string; seq?: number }): void => send({ type: 'error', ...where, status, error });

    const touch = (): void => {
      clearTimeout(idleTimer);
      if (subscriptions.size > 0 || ws.readyState !== ws.OPEN) return;
      idleTimer = setTimeout(() => ws.close(closeCodes.idle, 'idle'), idleTimeoutMs);
      idleTimer.unref();
    };

    const unsubscribe = async (id: string): Promise<void> => {
      const stop = subscriptions.get(id);
      subscriptions.delete(id);
      await stop?.().catch(() => undefined);
      touch();
    };

    /** Delivers a request's events after `after`: the stored ones, then live, each once and in order. */
    const subscribe = async (id: string, after: number): Promise<void> => {
      if (subscriptions.has(id)) await unsubscribe(id);
      let lastSeq = after;
      let finished = false;
      let buffered: LiveEvent[] | undefined = [];
      const deliver = (event: LiveEvent): void => {
        if (finished) return;
        if (event.type === 'delta') {
          if (event.seq <= lastSeq) return;
          lastSeq = event.seq;
          send({ type: 'chunk', id, seq: event.seq, data: event.data });
          return;
        }
        finished = true;
        const seq = event.seq === Number.MAX_SAFE_INTEGER ? lastSeq + 1 : event.seq;
        sendTerminal(id, seq, event.data);
        void unsubscribe(id);
      };
      const catchUp = async (): Promise<void> => {
        const [history, result] = await Promise.all([opts.store.readEvents(id, lastSeq), opts.store.getResult(id)]);
        for (const event of history) deliver(event);
        if (result) deliver({ id, seq: Number.MAX_SAFE_INTEGER, type: result.status === 'succeeded' ? 'done' : 'error', data: result });
      };
      const stop = await opts.store.follow(
        id,
        (event) => (buffered ? buffered.push(event) : deliver(event)),
        () => void catchUp().catch((err: unknown) => log.warn({ err, requestId: id }, 'catch-up after a Redis reconnect failed')),
      );
      subscriptions.set(id, stop);
      clearTimeout(idleTimer);
      await catchUp();
      const live = buffered;
      buffered = undefined;
      for (const event of live) deliver(event);
    };

    /**
     * Whether this client may follow or cancel the request: with keys, only its own key's. Another
     * key's request gets the same 404 frame as an unknown one.
     */
    const mayFollow = async (id: string): Promise<boolean> => {
      if (client === anonymousClient || sent.has(id)) return true;
      const result = await opts.store.getResult(id);
      if (result) return mayRead(client, result.owner);
      const status = await opts.store.getState(id);
      return status !== undefined && mayRead(client, status.owner);
    };
    const notFound = (id: string): void =>
      sendError(404, { message: `No request with id '${id}' is known (it may have expired, or not have started yet).`, type: 'invalid_request_error', param: 'id', code: 'request_not_found' }, { id });

    const sendTerminal = (id: string, seq: number, result: ResultEnvelope): void => {
      if (result.status === 'succeeded') {
        send({ type: 'done', id, seq, usage: result.usage ?? null, provider: result.provider ?? null, model: result.model ?? null });
      } else {
        sendError(result.httpStatus, failureOf(result), { id, seq });
      }
    };

    const onFrame = async (raw: string): Promise<void> => {
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        sendError(400, { message: 'The frame is not valid JSON.', type: 'invalid_request_error', param: null, code: 'invalid_json' }, {});
        return;
      }
      const frame = clientFrameSchema.safeParse(json);
      if (!frame.success) {
        const ref = typeof json === 'object' && json !== null && 'ref' in json && typeof json.ref === 'string' ? { ref: json.ref } : {};
        const issue = frame.error.issues[0];
        const where = issue && issue.path.length > 0 ? `'${issue.path.join('.')}': ` : '';
        sendError(400, { message: `Invalid frame: ${where}${issue?.message ?? 'not a request, subscribe, unsubscribe or cancel frame'}.`, type: 'invalid_request_error', param: null, code: 'invalid_frame' }, ref);
        return;
      }
      const f = frame.data;
      if (f.type === 'request') {
        try {
          const body = parseOrThrow(chatRequestSchema, f.body);
          const id = await opts.enqueue({ ...body, stream: true, stream_options: { include_usage: true } }, f.timeoutMs, client);
          sent.add(id);
          send({ type: 'accepted', ref: f.ref, id });
          await subscribe(id, 0);
        } catch (err) {
          const e = asGatewayError(err);
          sendError(e.status, e.body, { ref: f.ref });
        }
      } else if (f.type === 'subscribe') {
        if (await mayFollow(f.id)) await subscribe(f.id, f.after);
        else notFound(f.id);
      } else if (f.type === 'unsubscribe') {
        await unsubscribe(f.id);
      } else if (await mayFollow(f.id)) {
        await opts.store.cancel(f.id);
      } else {
        notFound(f.id);
      }
    };

    ws.on('message', (data, isBinary) => {
      clearTimeout(idleTimer);
      if (isBinary) {
        sendError(400, { message: 'Send JSON text frames, not binary ones.', type: 'invalid_request_error', param: null, code: 'invalid_frame' }, {});
        return;
      }
      onFrame(data.toString()).catch((err: unknown) => {
        log.error({ err }, 'realtime frame failed');
        sendError(500, { message: 'The gateway failed while handling the frame.', type: 'server_error', param: null, code: 'internal_error' }, {});
      }).finally(touch);
    });
    ws.on('pong', () => (alive = true));
    const pinger = setInterval(() => {
      if (!alive) {
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, pingIntervalMs);
    pinger.unref();
    ws.on('close', () => {
      clearInterval(pinger);
      clearTimeout(idleTimer);
      sockets.delete(ws);
      for (const id of [...subscriptions.keys()]) void unsubscribe(id);
    });
    ws.on('error', (err) => log.warn({ err: err.message }, 'realtime socket error'));
    touch();
  }

  return {
    handleUpgrade,
    open: () => sockets.size,
    async close() {
      const closed = [...sockets].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
      for (const ws of sockets) ws.close(closeCodes.restarting, 'server restarting: reconnect and resubscribe from your last sequence number');
      await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
      for (const ws of sockets) ws.terminate();
      wss.close();
    },
  };
}

function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError(500, 'The gateway failed while accepting the request.', { code: 'internal_error', type: 'server_error' });
}
