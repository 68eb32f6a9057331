// The OpenAI adapter, shared by every OpenAI-compatible provider: base URL, auth header and
// extra headers are configuration; request and response are already the canonical shape.
import { Agent, request, errors as undiciErrors } from 'undici';
import { createParser } from 'eventsource-parser';
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import type { ProviderConfig } from '#libs/config/schema.ts';
import { exactModels, matchesModel } from '../model-pattern.ts';
import { UpstreamError, type CallOptions, type CallResult, type ProviderAdapter, type StreamCall, type UpstreamPhase } from '../provider.ts';

type OpenAIConfig = Extract<ProviderConfig, { type: 'openai' | 'openai-compatible' }>;

/** Fields the gateway reads itself and never forwards. */
const gatewayOnlyFields = ['fallbacks'] as const;

export class OpenAIAdapter implements ProviderAdapter {
  readonly name: string;
  readonly type: string;
  private readonly config: OpenAIConfig;
  /** One connection pool per connect timeout in use (undici sets it per pool, not per call). */
  private readonly agents = new Map<number, Agent>();
  private readonly url: string;

  constructor(name: string, config: OpenAIConfig) {
    this.name = name;
    this.type = config.type;
    this.config = config;
    this.url = `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  }

  private agent(connectMs: number): Agent {
    const timeout = this.config.connectTimeoutMs ?? connectMs;
    let agent = this.agents.get(timeout);
    if (!agent) {
      // No cap on connections per origin: every in-flight call holds one (HTTP/1.1), and a
      // worker runs as many calls as its concurrency allows.
      agent = new Agent({ connect: { timeout }, keepAliveTimeout: 30_000 });
      this.agents.set(timeout, agent);
    }
    return agent;
  }

  serves(model: string): boolean {
    return matchesModel(this.config.models, model);
  }

  listModels(): string[] {
    return exactModels(this.config.models);
  }

  private async send(body: Record<string, unknown>, opts: CallOptions) {
    const keyId = opts.key?.id;
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: body.stream ? 'text/event-stream' : 'application/json', ...this.config.headers };
    if (opts.key) headers.authorization = `Bearer ${opts.key.secret}`;
    try {
      // undici does not abort a connection attempt on the signal; the race makes the deadline hold.
      const res = await abortable(request(this.url, {
        method: 'POST',
        dispatcher: this.agent(opts.timeouts.connectMs),
        headers,
        body: JSON.stringify(body),
        headersTimeout: opts.timeouts.firstByteMs,
        bodyTimeout: opts.timeouts.idleMs,
        signal: opts.signal,
      }), opts.signal);
      const resHeaders = flattenHeaders(res.headers);
      if (res.statusCode >= 400) {
        const text = await res.body.text().catch(() => '');
        throw new UpstreamError(`${this.name} answered ${res.statusCode}`, { status: res.statusCode, phase: 'response', body: parseJsonOr(text), headers: resHeaders, keyId });
      }
      return { res, resHeaders, keyId };
    } catch (err) {
      throw toUpstreamError(err, 'first_byte', keyId);
    }
  }

  async complete(request: ChatRequest, opts: CallOptions): Promise<CallResult<ChatCompletion>> {
    const body = upstreamBody(request, opts.model, false);
    const { res, resHeaders, keyId } = await this.send(body, opts);
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw toUpstreamError(err, 'idle', keyId);
    }
    const parsed = parseJsonOr(text);
    if (!isRecord(parsed) || parsed.object !== 'chat.completion') {
      throw new UpstreamError(`${this.name} returned a body that is not a chat completion`, { status: 502, phase: 'response', body: text.slice(0, 500), headers: resHeaders, keyId });
    }
    return { value: parsed as ChatCompletion, keyId };
  }

  async stream(request: ChatRequest, opts: CallOptions): Promise<StreamCall> {
    const body = upstreamBody(request, opts.model, true);
    const { res, resHeaders, keyId } = await this.send(body, opts);
    const name = this.name;
    async function* chunks(): AsyncGenerator<ChatChunk> {
      const queue: ChatChunk[] = [];
      let finished = false;
      let inBandError: UpstreamError | undefined;
      const parser = createParser({
        onEvent(event) {
          if (finished || inBandError) return;
          if (event.data === '[DONE]') {
            finished = true;
            return;
          }
          const data = parseJsonOr(event.data);
          if (isRecord(data) && isRecord(data.error)) {
            inBandError = new UpstreamError(`${name} sent an error event mid-stream: ${String(data.error.message ?? '')}`, { status: errorStatus(data.error), phase: 'stream', body: data, headers: resHeaders, keyId });
            return;
          }
          if (isRecord(data) && data.object === 'chat.completion.chunk') queue.push(data as ChatChunk);
        },
      });
      const decoder = new TextDecoder();
      try {
        for await (const piece of res.body) {
          parser.feed(decoder.decode(piece as Buffer, { stream: true }));
          while (queue.length > 0) yield queue.shift() as ChatChunk;
          if (inBandError) throw inBandError;
          if (finished) break;
        }
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        throw toUpstreamError(err, 'idle', keyId);
      } finally {
        if (!res.body.destroyed) res.body.destroy();
      }
      if (!finished) throw new UpstreamError(`${name} closed the stream before [DONE]`, { code: 'UND_ERR_SOCKET', phase: 'stream', headers: resHeaders, keyId });
    }
    return { keyId, chunks: chunks() };
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
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

function upstreamBody(request: ChatRequest, model: string, stream: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { ...request, model };
  for (const field of gatewayOnlyFields) delete body[field];
  if (stream) {
    body.stream = true;
    // Usage is always asked for, so the gateway can account for it; the relay hides it from
    // clients that did not ask.
    body.stream_options = { ...(request.stream_options ?? {}), include_usage: true };
  } else {
    delete body.stream;
    delete body.stream_options;
  }
  return body;
}

function toUpstreamError(err: unknown, fallbackPhase: UpstreamPhase, keyId: string | undefined): UpstreamError {
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

function errorStatus(error: Record<string, unknown>): number {
  const code = error.code;
  if (typeof code === 'number') return code;
  return 500;
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function parseJsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
