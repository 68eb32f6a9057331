// The OpenAI adapter, shared by every OpenAI-compatible provider and Azure OpenAI: base URL, auth header and
// extra headers are configuration; request and response are already the canonical shape.
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import type { EmbeddingsRequest, EmbeddingsResponse } from '#libs/contracts/embeddings.ts';
import type { ProviderConfig } from '#libs/config/schema.ts';
import type { FamilyType } from './family.ts';
import { AgentPool, isRecord, parseJsonOr, post, readText, sseEvents, truncatedStream, type Upstream } from '../http.ts';
import { exactModels, matchesModel } from '../model-pattern.ts';
import { UpstreamError, type CallOptions, type CallResult, type ProviderAdapter, type StreamCall } from '../provider.ts';

type OpenAIConfig = Extract<ProviderConfig, { type: FamilyType | 'azure' }>;

/** Fields the gateway reads itself and never forwards. */
const gatewayOnlyFields = ['fallbacks'] as const;

export class OpenAIAdapter implements ProviderAdapter {
  readonly name: string;
  readonly type: string;
  private readonly config: OpenAIConfig;
  private readonly pool: AgentPool;
  private readonly baseUrl: string;

  constructor(name: string, config: OpenAIConfig) {
    this.name = name;
    this.type = config.type;
    this.config = config;
    this.pool = new AgentPool(config.connectTimeoutMs);
    this.baseUrl = (config.type === 'azure' ? config.endpoint : config.baseUrl).replace(/\/+$/, '');
  }

  serves(model: string): boolean {
    return matchesModel(this.config.models, model);
  }

  listModels(): string[] {
    return exactModels(this.config.models);
  }

  /** Azure OpenAI addresses a deployment and an API version, and takes the key as `api-key`. */
  private send(path: '/chat/completions' | '/embeddings', body: Record<string, unknown>, opts: CallOptions): Promise<Upstream> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: body.stream ? 'text/event-stream' : 'application/json', ...this.config.headers };
    let url = `${this.baseUrl}${path}`;
    if (this.config.type === 'azure') {
      const deployment = this.config.deployments[opts.model] ?? opts.model;
      url = `${this.baseUrl}/openai/deployments/${encodeURIComponent(deployment)}${path}?api-version=${encodeURIComponent(this.config.apiVersion)}`;
      if (opts.key) headers['api-key'] = opts.key.secret;
    } else if (opts.key) {
      headers.authorization = `Bearer ${opts.key.secret}`;
    }
    return post(url, { name: this.name, pool: this.pool, headers, body: JSON.stringify(body), opts });
  }

  async embed(request: EmbeddingsRequest, opts: CallOptions): Promise<CallResult<EmbeddingsResponse>> {
    const body: Record<string, unknown> = { ...request, model: opts.model };
    for (const field of gatewayOnlyFields) delete body[field];
    const upstream = await this.send('/embeddings', body, opts);
    const text = await readText(upstream);
    const parsed = parseJsonOr(text);
    if (!isRecord(parsed) || parsed.object !== 'list' || !Array.isArray(parsed.data)) {
      throw new UpstreamError(`${this.name} returned a body that is not an embeddings list`, { status: 502, phase: 'response', body: text.slice(0, 500), headers: upstream.headers, keyId: upstream.keyId });
    }
    return { value: parsed as EmbeddingsResponse, keyId: upstream.keyId };
  }

  async complete(request: ChatRequest, opts: CallOptions): Promise<CallResult<ChatCompletion>> {
    const upstream = await this.send('/chat/completions', upstreamBody(request, opts.model, false), opts);
    const text = await readText(upstream);
    const parsed = parseJsonOr(text);
    if (!isRecord(parsed) || parsed.object !== 'chat.completion') {
      throw new UpstreamError(`${this.name} returned a body that is not a chat completion`, { status: 502, phase: 'response', body: text.slice(0, 500), headers: upstream.headers, keyId: upstream.keyId });
    }
    return { value: parsed as ChatCompletion, keyId: upstream.keyId };
  }

  async stream(request: ChatRequest, opts: CallOptions): Promise<StreamCall> {
    const upstream = await this.send('/chat/completions', upstreamBody(request, opts.model, true), opts);
    const name = this.name;
    async function* chunks(): AsyncGenerator<ChatChunk> {
      for await (const event of sseEvents(upstream)) {
        if (event.data === '[DONE]') return;
        const data = parseJsonOr(event.data);
        if (isRecord(data) && isRecord(data.error)) {
          throw new UpstreamError(`${name} sent an error event mid-stream: ${String(data.error.message ?? '')}`, { status: errorStatus(data.error), phase: 'stream', body: data, headers: upstream.headers, keyId: upstream.keyId });
        }
        if (isRecord(data) && data.object === 'chat.completion.chunk') yield data as ChatChunk;
      }
      throw truncatedStream(name, '[DONE]', upstream);
    }
    return { keyId: upstream.keyId, chunks: chunks() };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
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

function errorStatus(error: Record<string, unknown>): number {
  const code = error.code;
  if (typeof code === 'number') return code;
  return 500;
}
