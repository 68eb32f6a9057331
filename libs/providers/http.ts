// The HTTP plumbing every provider adapter shares: connection pools per connect timeout, one
// POST with the call's timeouts and abort signal, server-sent events as an async iterable, and
// the translation of network failures into UpstreamError.
import { Agent, request, errors as undiciErrors, type Dispatcher } from 'undici';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { UpstreamError, type CallOptions, type UpstreamPhase } from './provider.ts';

/** One connection pool per connect timeout in use (undici sets it per pool, not per call). */
export class AgentPool {
  private readonly agents = new Map<number, Agent>();
  private readonly fixedConnectMs: number | undefined;

  /** `fixedConnectMs`: the provider's own connect limit, which wins over the routing policy's. */
  constructor(fixedConnectMs?: number) {
    this.fixedConnectMs = fixedConnectMs;
  }

  get(connectMs: number): Agent {
    const timeout = this.fixedConnectMs ?? connectMs;
    let agent = this.agents.get(timeout);
    if (!agent) {
      // No cap on connections per origin: every in-flight call holds one (HTTP/1.1), and a
      // worker runs as many calls as its concurrency allows.
      agent = new Agent({ connect: { timeout }, keepAliveTimeout: 30_000 });
      this.agents.set(timeout, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
  }
}

export interface Upstream {
  res: Dispatcher.ResponseData;
  headers: Record<string, string>;
  keyId: string | undefined;
}

/**
 * POSTs a body with the call's timeouts and signal. A status of 400 or more becomes an
 * UpstreamError carrying the parsed error body (`errorBody` may translate it to OpenAI's shape).
 */
export async function post(
  url: string,
  init: { name: string; pool: AgentPool; headers: Record<string, string>; body: string | Uint8Array; opts: CallOptions; errorBody?: (body: unknown) => unknown },
): Promise<Upstream> {
  const { opts } = init;
  const keyId = opts.key?.id;
  try {
    // undici does not abort a connection attempt on the signal; the race makes the deadline hold.
    const res = await abortable(
      request(url, {
        method: 'POST',
        dispatcher: init.pool.get(opts.timeouts.connectMs),
        headers: init.headers,
        body: init.body,
        headersTimeout: opts.timeouts.firstByteMs,
        bodyTimeout: opts.timeouts.idleMs,
        signal: opts.signal,
      }),
      opts.signal,
    );
    const headers = flattenHeaders(res.headers);
    if (res.statusCode >= 400) {
      const text = await res.body.text().catch(() => '');
      const parsed = parseJsonOr(text);
      throw new UpstreamError(`${init.name} answered ${res.statusCode}`, { status: res.statusCode, phase: 'response', body: init.errorBody ? init.errorBody(parsed) : parsed, headers, keyId });
    }
    return { res, headers, keyId };
  } catch (err) {
    throw toUpstreamError(err, 'first_byte', keyId);
  }
}

/** The whole response body as text; a cut or a stall is an UpstreamError. */
export async function readText(upstream: Upstream): Promise<string> {
  try {
    return await upstream.res.body.text();
  } catch (err) {
    throw toUpstreamError(err, 'idle', upstream.keyId);
  }
}

/** The response body's server-sent events in order; a cut or a stall is an UpstreamError. The body is destroyed when iteration stops. */
export async function* sseEvents(upstream: Upstream): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => queue.push(event) });
  const decoder = new TextDecoder();
  const body = upstream.res.body;
  try {
    for await (const piece of body) {
      parser.feed(decoder.decode(piece as Buffer, { stream: true }));
      while (queue.length > 0) yield queue.shift() as EventSourceMessage;
    }
  } catch (err) {
    throw toUpstreamError(err, 'idle', upstream.keyId);
  } finally {
    if (!body.destroyed) body.destroy();
  }
}

/** A stream that ended without its provider's end marker. */
export function truncatedStream(name: string, marker: string, upstream: Upstream): UpstreamError {
  return new UpstreamError(`${name} closed the stream before ${marker}`, { code: 'UND_ERR_SOCKET', phase: 'stream', headers: upstream.headers, keyId: upstream.keyId });
}

export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error(`call aborted: ${String(signal.reason)}`), { name: 'AbortError', code: 'ABORT_ERR' });
}

export function toUpstreamError(err: unknown, fallbackPhase: UpstreamPhase, keyId: string | undefined): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string } };
  let code = e.code ?? e.cause?.code;
  let phase = fallbackPhase;
  if (err instanceof undiciErrors.ConnectTimeoutError) phase = 'connect';
  else if (err instanceof undiciErrors.HeadersTimeoutError) phase = 'first_byte';
  else if (err instanceof undiciErrors.BodyTimeoutError) phase = 'idle';
  else if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') phase = 'connect';
  if (e.name === 'AbortError') code = 'ABORT_ERR';
  return new UpstreamError(e.message ?? String(err), { code, phase, keyId });
}

export function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export function parseJsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
