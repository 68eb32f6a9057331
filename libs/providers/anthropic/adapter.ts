// The Anthropic Messages API behind the canonical shape: POST {baseUrl}/v1/messages with x-api-key
// and anthropic-version, the request and response translated both ways, streams event by event.
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import { AgentPool, isRecord, parseJsonOr, post, readText, sseEvents, truncatedStream, type Upstream } from '../http.ts';
import { exactModels, matchesModel } from '../model-pattern.ts';
import { UpstreamError, type CallOptions, type CallResult, type ProviderAdapter, type StreamCall } from '../provider.ts';
import type { AnthropicConfig } from './config.ts';
import { errorTypeAndMessage, redact, statusForErrorType, toOpenAIErrorBody, withRetryAfter } from './errors.ts';
import { toMessagesRequest } from './request.ts';
import { toChatCompletion } from './response.ts';
import { StreamTranslator } from './stream-translator.ts';
import { messageSchema, streamEventSchema, streamEventTypes, type MessagesRequest } from './wire.ts';

export class AnthropicAdapter implements ProviderAdapter {
  readonly name: string;
  readonly type = 'anthropic';
  private readonly config: AnthropicConfig;
  private readonly pool: AgentPool;
  private readonly url: string;

  constructor(name: string, config: AnthropicConfig) {
    this.name = name;
    this.config = config;
    this.pool = new AgentPool(config.connectTimeoutMs);
    this.url = `${config.baseUrl.replace(/\/+$/, '')}/v1/messages`;
  }

  serves(model: string): boolean {
    return matchesModel(this.config.models, model);
  }

  listModels(): string[] {
    return exactModels(this.config.models);
  }

  private async send(body: MessagesRequest, opts: CallOptions): Promise<Upstream> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: body.stream ? 'text/event-stream' : 'application/json',
      'anthropic-version': this.config.version,
      ...this.config.headers,
    };
    const secret = opts.key?.secret;
    if (secret !== undefined) headers['x-api-key'] = secret;
    try {
      return await post(this.url, { name: this.name, pool: this.pool, headers, body: JSON.stringify(body), opts, errorBody: (b) => toOpenAIErrorBody(b, secret) });
    } catch (err) {
      throw err instanceof UpstreamError ? withRetryAfter(err, Date.now()) : err;
    }
  }

  async complete(request: ChatRequest, opts: CallOptions): Promise<CallResult<ChatCompletion>> {
    const upstream = await this.send(toMessagesRequest(request, opts.model, this.config, false), opts);
    const text = await readText(upstream);
    const data = parseJsonOr(text);
    if (errorTypeAndMessage(data)) throw this.inBandError(data, 'response', upstream, opts);
    const message = messageSchema.safeParse(data);
    if (!message.success) {
      throw new UpstreamError(`${this.name} returned a body that is not a message`, { status: 502, phase: 'response', body: redact(text.slice(0, 500), opts.key?.secret), headers: upstream.headers, keyId: upstream.keyId });
    }
    return { value: toChatCompletion(message.data, nowSeconds()), keyId: upstream.keyId };
  }

  async stream(request: ChatRequest, opts: CallOptions): Promise<StreamCall> {
    const upstream = await this.send(toMessagesRequest(request, opts.model, this.config, true), opts);
    return { keyId: upstream.keyId, chunks: this.chunks(upstream, opts) };
  }

  private async *chunks(upstream: Upstream, opts: CallOptions): AsyncGenerator<ChatChunk> {
    const translator = new StreamTranslator(nowSeconds());
    for await (const sse of sseEvents(upstream)) {
      const data = parseJsonOr(sse.data);
      const type = sse.event ?? (isRecord(data) ? data.type : undefined);
      if (type === 'error') throw this.inBandError(data, 'stream', upstream, opts);
      // ping, and event types Anthropic adds later.
      if (typeof type !== 'string' || !streamEventTypes.has(type)) continue;
      const event = streamEventSchema.safeParse(data);
      if (!event.success) {
        throw new UpstreamError(`${this.name} sent a malformed ${type} event`, { status: 502, phase: 'stream', body: redact(sse.data.slice(0, 500), opts.key?.secret), headers: upstream.headers, keyId: upstream.keyId });
      }
      yield* translator.translate(event.data);
      if (translator.finished) return;
    }
    throw truncatedStream(this.name, 'message_stop', upstream);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** An error Anthropic reported after answering 200 (an `error` event mid-stream), with the status its type stands for. */
  private inBandError(data: unknown, phase: 'response' | 'stream', upstream: Upstream, opts: CallOptions): UpstreamError {
    const error = errorTypeAndMessage(data);
    const status = error ? statusForErrorType(error.type) : 502;
    const where = phase === 'stream' ? 'mid-stream' : 'in its response';
    const message = redact(error?.message ?? '', opts.key?.secret);
    return new UpstreamError(`${this.name} sent an error ${where}: ${message}`, { status, phase, body: toOpenAIErrorBody(data, opts.key?.secret), headers: upstream.headers, keyId: upstream.keyId });
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
