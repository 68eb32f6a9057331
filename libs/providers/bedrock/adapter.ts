// The AWS Bedrock adapter: chat requests go to the Converse and ConverseStream APIs, signed with
// SigV4 or sent with a Bedrock API key; answers, binary event streams and errors come back in the
// canonical shape.
import { randomUUID } from 'node:crypto';
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import { AgentPool, parseJsonOr, post, readText, toUpstreamError, truncatedStream, type Upstream } from '../http.ts';
import { exactModels, matchesModel } from '../model-pattern.ts';
import { UpstreamError, type CallOptions, type CallResult, type ProviderAdapter, type StreamCall } from '../provider.ts';
import { BedrockAuth } from './auth.ts';
import type { BedrockConfig } from './config.ts';
import { EventStreamDecoder, type EventFrame } from './event-stream.ts';
import { ConverseStreamTranslator, converseResponseSchema, toChatCompletion, toConverseRequest, toFailure, type AnswerMeta } from './translate.ts';

const EVENT_STREAM = 'application/vnd.amazon.eventstream';

export class BedrockAdapter implements ProviderAdapter {
  readonly name: string;
  readonly type = 'bedrock';
  private readonly config: BedrockConfig;
  private readonly pool: AgentPool;
  private readonly auth: BedrockAuth;
  private readonly endpoint: string;

  constructor(name: string, config: BedrockConfig) {
    this.name = name;
    this.config = config;
    this.pool = new AgentPool(config.connectTimeoutMs);
    this.auth = new BedrockAuth(name, config);
    this.endpoint = (config.baseUrl ?? `https://bedrock-runtime.${config.region}.amazonaws.com`).replace(/\/+$/, '');
  }

  serves(model: string): boolean {
    return matchesModel(this.config.models, model);
  }

  listModels(): string[] {
    return exactModels(this.config.models);
  }

  private async send(request: ChatRequest, opts: CallOptions, stream: boolean): Promise<Upstream> {
    const body = JSON.stringify(toConverseRequest(request));
    // Model ids hold ":" (anthropic.claude-3-5-sonnet-20240620-v1:0) and ARNs hold "/": one path segment, escaped.
    const url = new URL(`${this.endpoint}/model/${encodeURIComponent(opts.model)}/${stream ? 'converse-stream' : 'converse'}`);
    const headers = await this.auth.headers(url, body, opts.key);
    try {
      return await post(url.href, { name: this.name, pool: this.pool, headers, body, opts });
    } catch (err) {
      if (!(err instanceof UpstreamError) || err.status === undefined) throw err;
      // Bedrock names the error in a header and says only {message} in the body.
      const failure = toFailure(err.headers['x-amzn-errortype'], err.status, err.body);
      throw new UpstreamError(`${this.name} answered ${err.status} ${failure.exception ?? ''}`.trim(), { status: failure.status, phase: 'response', body: failure.body, headers: err.headers, keyId: err.keyId });
    }
  }

  async complete(request: ChatRequest, opts: CallOptions): Promise<CallResult<ChatCompletion>> {
    const upstream = await this.send(request, opts, false);
    const text = await readText(upstream);
    const parsed = converseResponseSchema.safeParse(parseJsonOr(text));
    if (!parsed.success) {
      throw new UpstreamError(`${this.name} returned a body that is not a Converse response`, { status: 502, phase: 'response', body: text.slice(0, 500), headers: upstream.headers, keyId: upstream.keyId });
    }
    return { value: toChatCompletion(parsed.data, answerMeta(upstream, opts.model)), keyId: upstream.keyId };
  }

  async stream(request: ChatRequest, opts: CallOptions): Promise<StreamCall> {
    const upstream = await this.send(request, opts, true);
    const contentType = upstream.headers['content-type'] ?? '';
    if (!contentType.startsWith(EVENT_STREAM)) {
      const text = await readText(upstream).catch(() => '');
      throw new UpstreamError(`${this.name} answered a stream request with ${contentType || 'no content type'}`, { status: 502, phase: 'response', body: text.slice(0, 500), headers: upstream.headers, keyId: upstream.keyId });
    }
    return { keyId: upstream.keyId, chunks: streamChunks(this.name, upstream, answerMeta(upstream, opts.model)) };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** The chunks of a ConverseStream body; an exception frame, a corrupt frame or a cut is an UpstreamError. The body is destroyed when iteration stops. */
async function* streamChunks(name: string, upstream: Upstream, meta: AnswerMeta): AsyncGenerator<ChatChunk> {
  const translator = new ConverseStreamTranslator(meta);
  const decoder = new EventStreamDecoder();
  const decodeUtf8 = new TextDecoder();
  const body = upstream.res.body;
  try {
    for await (const piece of body) {
      for (const frame of framesOf(decoder, piece as Buffer, name, upstream)) {
        const payload = parseJsonOr(decodeUtf8.decode(frame.payload));
        const messageType = frame.headers[':message-type'];
        if (messageType === 'exception' || messageType === 'error') throw streamFailure(name, frame, payload, upstream);
        if (messageType !== 'event') continue;
        yield* translator.event(frame.headers[':event-type'] ?? '', payload);
        if (translator.complete) return;
      }
    }
  } catch (err) {
    throw toUpstreamError(err, 'idle', upstream.keyId);
  } finally {
    if (!body.destroyed) body.destroy();
  }
  throw truncatedStream(name, 'messageStop and metadata', upstream);
}

function framesOf(decoder: EventStreamDecoder, piece: Buffer, name: string, upstream: Upstream): EventFrame[] {
  try {
    return decoder.push(piece);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new UpstreamError(`${name} sent a corrupt event stream frame: ${reason}`, { status: 502, phase: 'stream', headers: upstream.headers, keyId: upstream.keyId });
  }
}

/** An exception frame (`:exception-type`) or an unmodelled error frame (`:error-code`, `:error-message`). */
function streamFailure(name: string, frame: EventFrame, payload: unknown, upstream: Upstream): UpstreamError {
  const exceptionType = frame.headers[':exception-type'] ?? frame.headers[':error-code'];
  const failure = toFailure(exceptionType, 500, frame.headers[':error-message'] ?? payload);
  return new UpstreamError(`${name} sent ${failure.exception ?? 'an error'} mid-stream: ${failure.body.error.message}`, { status: failure.status, phase: 'stream', body: failure.body, headers: upstream.headers, keyId: upstream.keyId });
}

function answerMeta(upstream: Upstream, model: string): AnswerMeta {
  return { id: `chatcmpl-${upstream.headers['x-amzn-requestid'] ?? randomUUID()}`, model, created: Math.floor(Date.now() / 1000) };
}
