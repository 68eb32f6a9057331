// The span of one upstream call (an attempt), named and described in the OpenTelemetry GenAI
// semantic conventions — `{operation} {model}`, kind client, gen_ai.* — plus Spillway's own
// spillway.* attributes that say where the attempt stood in the request's failover.
import { SpanKind, type Span } from '@opentelemetry/api';
import type { ProviderConfig } from '#libs/config/schema.ts';
import type { Usage } from '#libs/contracts/chat.ts';
import { failSpan, tracer } from './tracing.ts';

/** gen_ai.provider.name of each provider type that has a well-known value; any other names itself. */
const genAiProviderNames: Readonly<Record<string, string>> = {
  openai: 'openai',
  azure: 'azure.ai.openai',
  anthropic: 'anthropic',
  bedrock: 'aws.bedrock',
  gemini: 'gcp.gemini',
  vertex: 'gcp.vertex_ai',
  mistral: 'mistral_ai',
  groq: 'groq',
  deepseek: 'deepseek',
  xai: 'x_ai',
  perplexity: 'perplexity',
};

export function genAiProviderName(providerType: string): string {
  return genAiProviderNames[providerType] ?? providerType;
}

export interface ServerAddress {
  address: string;
  port: number;
}

const servers = new WeakMap<ProviderConfig, ServerAddress | null>();

/** The host a provider's calls go to (server.address / server.port); none for the mock. */
export function serverOf(provider: ProviderConfig): ServerAddress | undefined {
  let server = servers.get(provider);
  if (server === undefined) {
    server = parseServer(baseUrlOf(provider));
    servers.set(provider, server);
  }
  return server ?? undefined;
}

function baseUrlOf(provider: ProviderConfig): string | undefined {
  switch (provider.type) {
    case 'mock':
      return undefined;
    case 'azure':
      return provider.endpoint;
    case 'bedrock':
      return provider.baseUrl ?? `https://bedrock-runtime.${provider.region}.amazonaws.com`;
    case 'vertex':
      return provider.baseUrl ?? (provider.location === 'global' ? 'https://aiplatform.googleapis.com' : `https://${provider.location}-aiplatform.googleapis.com`);
    default:
      return provider.baseUrl;
  }
}

function parseServer(url: string | undefined): ServerAddress | null {
  if (url === undefined || !URL.canParse(url)) return null;
  const parsed = new URL(url);
  return { address: parsed.hostname, port: parsed.port ? Number(parsed.port) : parsed.protocol === 'http:' ? 80 : 443 };
}

const clientKind = { kind: SpanKind.CLIENT };

/** Starts the span of one upstream call; describe it with describeAttempt when it records. */
export function startAttemptSpan(operation: string, model: string): Span {
  return tracer().startSpan(`${operation} ${model}`, clientKind);
}

export interface AttemptDescription {
  requestId: string;
  operation: 'chat' | 'embeddings';
  /** The configured provider's name (Spillway's), its type (the API it speaks) and configuration. */
  provider: string;
  providerType: string | undefined;
  providerConfig: ProviderConfig | undefined;
  /** The model as the provider knows it. */
  model: string;
  /** 1 for the request's first upstream call, hedges and retries counted. */
  attempt: number;
  /** 0 for the primary target group, n for the n-th fallback step of the chain. */
  fallbackIndex: number;
  priority: 'interactive' | 'batch';
}

export function describeAttempt(span: Span, d: AttemptDescription): void {
  const providerName = genAiProviderName(d.providerType ?? d.provider);
  const server = d.providerConfig ? serverOf(d.providerConfig) : undefined;
  span.setAttributes({
    'gen_ai.operation.name': d.operation,
    'gen_ai.provider.name': providerName,
    // The attribute's name before gen_ai.provider.name, still the one many backends read.
    'gen_ai.system': providerName,
    'gen_ai.request.model': d.model,
    ...(server ? { 'server.address': server.address, 'server.port': server.port } : {}),
    'spillway.request_id': d.requestId,
    'spillway.provider': d.provider,
    'spillway.attempt': d.attempt,
    'spillway.fallback_index': d.fallbackIndex,
    'spillway.priority': d.priority,
  });
}

/** How an upstream call ended, as the attempt span records it (the worker's outcome as it is). */
export type AttemptEnd =
  | { ok: true; response: { id?: unknown; model?: unknown }; usage: Usage | undefined }
  | { ok: false; failure: string; error: { status: number | undefined } };

export function endAttemptSpan(span: Span, end: AttemptEnd): void {
  if (span.isRecording()) {
    if (end.ok) {
      if (typeof end.response.model === 'string') span.setAttribute('gen_ai.response.model', end.response.model);
      if (typeof end.response.id === 'string') span.setAttribute('gen_ai.response.id', end.response.id);
      if (end.usage) {
        span.setAttributes({ 'gen_ai.usage.input_tokens': end.usage.prompt_tokens, 'gen_ai.usage.output_tokens': end.usage.completion_tokens });
      }
    } else {
      const status = end.error.status;
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      span.setAttribute('spillway.failure_class', end.failure);
      // error.type: the upstream's HTTP status when it answered with one, else the failure class.
      failSpan(span, status !== undefined ? String(status) : end.failure, status !== undefined ? `${end.failure} (HTTP ${status})` : end.failure);
    }
  }
  span.end();
}
