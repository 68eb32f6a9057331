// A local stand-in for api.openai.com: OpenAI's exact wire format for chat completions (plain and
// SSE), embeddings and models, plus scripted faults so gateway tests can pin failure behaviour.
// The shared scaffolding (fault queue, recording, timers, standalone mode) is in fake-server.ts.
// Standalone for the benchmark: `scripts/node.sh test/fakes/openai-upstream.ts --port 0`.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { FakeServer, listenLocal, parseJsonBody, runStandalone } from './fake-server.ts';
import type { FakeServerOptions, FakeUpstream } from './fake-server.ts';

export type Fault =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | {
      kind: 'rate-limit';
      retryAfterSeconds?: number;
      retryAfterMs?: number;
      retryAfterDate?: Date;
      resetRequests?: string;
      code?: 'rate_limit_exceeded' | 'insufficient_quota';
    }
  | { kind: 'reset' }
  | { kind: 'slow-first-byte'; ms: number }
  | { kind: 'stall'; afterChunks: number }
  | { kind: 'disconnect'; afterChunks: number }
  | { kind: 'in-band-error'; afterChunks: number; message?: string };

export interface ContentPart {
  type: string;
  text?: string;
  [key: string]: unknown;
}

export interface ChatMessage {
  role: string;
  content?: string | ContentPart[] | null;
  [key: string]: unknown;
}

export interface ChatRequestBody {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean } | null;
  [key: string]: unknown;
}

export interface ToolCallReply {
  name: string;
  arguments: string;
}

export interface ReplyOverride {
  text?: string;
  toolCalls?: ToolCallReply[];
}

export type ReplyFn = (body: ChatRequestBody) => ReplyOverride;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Raw bearer token, so tests can check key rotation; undefined when no bearer header came. */
  apiKey: string | undefined;
  /** Parsed JSON body; undefined for GET or unparseable bodies. */
  body: unknown;
  receivedAt: number;
  /** The fault applied; undefined for requests that take no fault (models, 401s, bad input). */
  fault: Fault | undefined;
  /** Azure flavour: the deployment named in the path. */
  deployment?: string;
}

export interface FakeOpenAIOptions extends FakeServerOptions {
  /** Accepted API keys; default accepts any non-empty key. */
  validKeys?: readonly string[];
  reply?: ReplyFn;
  /** Listed by GET /v1/models. Chat and embeddings accept any model regardless. */
  models?: readonly string[];
  /** Vector length when the request gives no `dimensions`; default 1536 like text-embedding-3-small. */
  embeddingDimensions?: number;
  /**
   * Speak Azure OpenAI instead: `POST /openai/deployments/{deployment}/chat/completions` and
   * `/embeddings` with `?api-version=` (this one only), the key in the `api-key` header, and the
   * prompt-filter chunk (empty `choices`) opening every stream. `url` is then the bare endpoint.
   */
  azure?: { apiVersion: string };
  /** Answer float arrays even when base64 is asked for, as some OpenAI-compatible servers do. */
  floatEmbeddingsOnly?: boolean;
}

/** Faults are consumed one per authorised chat/embeddings request. */
export interface FakeOpenAI extends FakeUpstream<Fault, RecordedRequest> {
  /** Base URL ending in /v1 (the bare endpoint with `azure`). */
  url: string;
  reply: ReplyFn | undefined;
}

const azureFilterResults = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};

const SYSTEM_FINGERPRINT = 'fp_5f8c1a3b2e';
const LIMIT_REQUESTS = 10_000;
const LIMIT_TOKENS = 30_000_000;
const ARGUMENT_FRAGMENT_CHARS = 8;

// ---------------------------------------------------------------- content

function partsText(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content) if (typeof part.text === 'string') texts.push(part.text);
  return texts.join('\n');
}

function countWords(text: string): number {
  let n = 0;
  for (const _ of text.matchAll(/\S+/g)) n++;
  return n;
}

/** Whitespace stays attached to the word before it, so the tokens concatenate to the text exactly. */
export function splitTokens(text: string): string[] {
  const tokens = text.match(/\s*\S+\s*/g);
  if (tokens === null) return text === '' ? [] : [text];
  return tokens;
}

export function echoText(body: ChatRequestBody): string {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m = body.messages[i];
    if (m.role === 'user') return 'Echo: ' + partsText(m.content);
  }
  return 'Echo: ';
}

function promptTokens(body: ChatRequestBody): number {
  let n = 0;
  for (const m of body.messages) n += countWords(partsText(m.content));
  return n;
}

function isChatBody(v: unknown): v is ChatRequestBody {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.model === 'string' && Array.isArray(o.messages) &&
    o.messages.every((m) => typeof m === 'object' && m !== null && typeof (m as Record<string, unknown>).role === 'string');
}

/** Deterministic unit vector per input, so tests can compare against a second request. */
export function fakeEmbedding(input: string, dimensions: number): number[] {
  let seed = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) seed = Math.imul(seed ^ input.charCodeAt(i), 0x01000193);
  const out = new Array<number>(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    const x = (seed >>> 0) / 0x1_0000_0000 - 0.5;
    out[i] = x;
    norm += x * x;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dimensions; i++) out[i] = Math.fround(out[i] * scale);
  return out;
}

function toBase64Float32(vector: number[]): string {
  const bytes = Buffer.from(new Float32Array(vector).buffer);
  return bytes.toString('base64');
}

// ---------------------------------------------------------------- errors

interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function errorBody(message: string, type: string, code: string | null = null, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/** The body OpenAI sends for a status when a test does not supply one. */
export function defaultErrorBody(status: number): OpenAIErrorBody {
  switch (status) {
    case 400: return errorBody('Invalid request.', 'invalid_request_error');
    case 401: return errorBody('Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', 'invalid_api_key');
    case 403: return errorBody('Country, region, or territory not supported', 'request_forbidden', 'unsupported_country_region_territory');
    case 404: return errorBody('The model does not exist or you do not have access to it.', 'invalid_request_error', 'model_not_found');
    case 408: return errorBody('Request timed out.', 'invalid_request_error', 'timeout');
    case 409: return errorBody('Conflict.', 'invalid_request_error');
    case 413: return errorBody('Request too large.', 'invalid_request_error', 'request_too_large');
    case 422: return errorBody('Unprocessable entity.', 'invalid_request_error');
    case 429: return errorBody('Rate limit reached for requests. Please try again in 1s.', 'requests', 'rate_limit_exceeded');
    case 500: return errorBody('The server had an error while processing your request. Sorry about that!', 'server_error');
    case 502: return errorBody('Bad gateway.', 'server_error', 'bad_gateway');
    case 503: return errorBody('The engine is currently overloaded, please try again later.', 'server_error', 'service_unavailable');
    case 504: return errorBody('Gateway timeout.', 'server_error', 'timeout');
    default: return status >= 500 ? errorBody('The server had an error while processing your request.', 'server_error') : errorBody('Invalid request.', 'invalid_request_error');
  }
}

function maskKey(key: string): string {
  if (key.length <= 8) return '*'.repeat(key.length);
  return key.slice(0, 3) + '*'.repeat(key.length - 7) + key.slice(-4);
}

// ---------------------------------------------------------------- server

class Fake extends FakeServer<Fault, RecordedRequest> implements FakeOpenAI {
  reply: ReplyFn | undefined;

  private readonly validKeys: ReadonlySet<string> | undefined;
  private readonly models: readonly string[];
  private readonly embeddingDimensions: number;
  private readonly floatEmbeddingsOnly: boolean;
  readonly azure: { apiVersion: string } | undefined;
  private readonly idPrefix = randomBytes(8).toString('hex');
  private seq = 0;

  constructor(opts: FakeOpenAIOptions) {
    super(opts);
    this.validKeys = opts.validKeys === undefined ? undefined : new Set(opts.validKeys);
    this.reply = opts.reply;
    this.models = opts.models ?? ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'];
    this.embeddingDimensions = opts.embeddingDimensions ?? 1536;
    this.floatEmbeddingsOnly = opts.floatEmbeddingsOnly ?? false;
    this.azure = opts.azure;
  }

  // -------------------------------------------------------------- request intake

  protected handle(req: IncomingMessage, res: ServerResponse, rawBody: Buffer, receivedAt: number): void {
    const method = req.method ?? 'GET';
    // A GET's body is never parsed, so GET /v1/models cannot fail as bad JSON.
    const { body, badJson } = method === 'GET' ? { body: undefined, badJson: false } : parseJsonBody(rawBody);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const auth = req.headers.authorization;
    const azureKey = req.headers['api-key'];
    const apiKey = this.azure ? (typeof azureKey === 'string' ? azureKey : undefined) : auth !== undefined && auth.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    const record: RecordedRequest = { method, path, headers: req.headers, apiKey, body, receivedAt, fault: undefined };

    if (this.azure) {
      const match = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(path);
      const version = new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).get('api-version');
      record.deployment = match?.[1];
      if (!match || method !== 'POST' || version !== this.azure.apiVersion) {
        this.record(record);
        return this.sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } }, Date.now());
      }
      if (!apiKey || (this.validKeys !== undefined && !this.validKeys.has(apiKey))) {
        this.record(record);
        return this.sendJson(res, 401, { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.' } }, Date.now());
      }
    }
    const route = this.azure
      ? (path.endsWith('/embeddings') ? 'embeddings' : 'chat')
      : method === 'POST' && path === '/v1/chat/completions' ? 'chat'
        : method === 'POST' && path === '/v1/embeddings' ? 'embeddings'
          : method === 'GET' && path === '/v1/models' ? 'models'
            : 'unknown';

    let authError: OpenAIErrorBody | undefined;
    if (apiKey === undefined || apiKey === '') {
      authError = errorBody("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.", 'invalid_request_error');
    } else if (this.validKeys !== undefined && !this.validKeys.has(apiKey)) {
      authError = errorBody(`Incorrect API key provided: ${maskKey(apiKey)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key');
    }

    if (authError === undefined && !badJson && (route === 'chat' || route === 'embeddings')) {
      record.fault = this.takeFault();
    }
    this.record(record);

    const start = Date.now();
    if (authError !== undefined) return this.later(res, this.latencyMs, () => this.sendJson(res, 401, authError, start));
    if (badJson) {
      return this.later(res, this.latencyMs, () => this.sendJson(res, 400, errorBody("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.", 'invalid_request_error'), start));
    }
    switch (route) {
      case 'models': return this.later(res, this.latencyMs, () => this.sendModels(res, start));
      case 'unknown': return this.later(res, this.latencyMs, () => this.sendJson(res, 404, errorBody(`Invalid URL (${method} ${path})`, 'invalid_request_error'), start));
      case 'chat':
      case 'embeddings': return this.answer(route, req, res, record.fault, body, start);
    }
  }

  // -------------------------------------------------------------- faults and timing

  private answer(route: 'chat' | 'embeddings', req: IncomingMessage, res: ServerResponse, fault: Fault | undefined, body: unknown, start: number): void {
    const delay = fault?.kind === 'slow-first-byte' ? fault.ms : this.latencyMs;
    switch (fault?.kind) {
      case 'reset':
        return this.later(res, delay, () => req.socket.destroy());
      case 'status': {
        const status = fault.status;
        const errBody = fault.body ?? defaultErrorBody(status);
        return this.later(res, delay, () => this.sendJson(res, status, errBody, start, fault.headers));
      }
      case 'rate-limit':
        return this.later(res, delay, () => this.sendRateLimit(res, fault, start));
      default:
        return this.later(res, delay, () => route === 'chat' ? this.chat(res, fault, body, start) : this.embeddings(res, fault, body, start));
    }
  }

  // -------------------------------------------------------------- responses

  private nextId(): string {
    this.seq++;
    return this.idPrefix + this.seq.toString(36).padStart(13, '0');
  }

  private headers(start: number, tokens: number, json: boolean): Record<string, string> {
    return {
      'content-type': json ? 'application/json' : 'text/event-stream; charset=utf-8',
      'x-request-id': 'req_' + this.nextId().padEnd(32, '0'),
      'openai-processing-ms': String(Date.now() - start),
      'openai-version': '2020-10-01',
      'x-ratelimit-limit-requests': String(LIMIT_REQUESTS),
      'x-ratelimit-limit-tokens': String(LIMIT_TOKENS),
      'x-ratelimit-remaining-requests': String(LIMIT_REQUESTS - 1),
      'x-ratelimit-remaining-tokens': String(LIMIT_TOKENS - tokens),
      'x-ratelimit-reset-requests': '6ms',
      'x-ratelimit-reset-tokens': '0s',
    };
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, start: number, extra?: Record<string, string>): void {
    const headers = this.headers(start, 0, true);
    if (status >= 400) headers['content-type'] = 'application/json; charset=utf-8';
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, extra === undefined ? headers : { ...headers, ...extra });
    res.end(payload);
  }

  private sendRateLimit(res: ServerResponse, fault: Extract<Fault, { kind: 'rate-limit' }>, start: number): void {
    const headers = this.headers(start, 0, true);
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['x-ratelimit-remaining-requests'] = '0';
    headers['x-ratelimit-reset-requests'] = fault.resetRequests ?? '1s';
    if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
    else if (fault.retryAfterDate !== undefined) headers['retry-after'] = fault.retryAfterDate.toUTCString();
    if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
    const body = fault.code === 'insufficient_quota'
      ? errorBody('You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.', 'insufficient_quota', 'insufficient_quota')
      : errorBody(`Rate limit reached for requests per min (RPM): Limit ${LIMIT_REQUESTS}, Used ${LIMIT_REQUESTS}, Requested 1. Please try again in ${fault.resetRequests ?? '1s'}. Visit https://platform.openai.com/account/rate-limits to learn more.`, 'requests', 'rate_limit_exceeded');
    res.writeHead(429, headers);
    res.end(JSON.stringify(body));
  }

  private sendModels(res: ServerResponse, start: number): void {
    const created = 1_700_000_000;
    this.sendJson(res, 200, { object: 'list', data: this.models.map((id) => ({ id, object: 'model', created, owned_by: 'system' })) }, start);
  }

  private embeddings(res: ServerResponse, fault: Fault | undefined, body: unknown, start: number): void {
    const b = typeof body === 'object' && body !== null ? body as Record<string, unknown> : {};
    const input = b.input;
    const inputs: string[] = typeof input === 'string' ? [input]
      : Array.isArray(input) && input.length > 0 && typeof input[0] === 'number' ? [JSON.stringify(input)]
        : Array.isArray(input) ? input.map((x) => typeof x === 'string' ? x : JSON.stringify(x))
          : [];
    if (typeof b.model !== 'string' || inputs.length === 0) {
      return this.sendJson(res, 400, errorBody("'input' and 'model' are required and 'input' must not be empty.", 'invalid_request_error', null, 'input'), start);
    }
    if (fault !== undefined && (fault.kind === 'stall' || fault.kind === 'disconnect' || fault.kind === 'in-band-error')) {
      return this.nonStreamingFault(res, fault, start);
    }
    const dims = typeof b.dimensions === 'number' ? b.dimensions : this.embeddingDimensions;
    const base64 = b.encoding_format === 'base64' && !this.floatEmbeddingsOnly;
    let tokens = 0;
    const data = inputs.map((text, index) => {
      tokens += countWords(text);
      const vector = fakeEmbedding(text, dims);
      return { object: 'embedding', index, embedding: base64 ? toBase64Float32(vector) : vector };
    });
    const payload = JSON.stringify({ object: 'list', data, model: b.model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
    res.writeHead(200, this.headers(start, tokens, true));
    res.end(payload);
  }

  /** Stream-shaped faults on a plain request: stall = never answer; disconnect = half a body; in-band-error = 500. */
  private nonStreamingFault(res: ServerResponse, fault: Extract<Fault, { kind: 'stall' | 'disconnect' | 'in-band-error' }>, start: number): void {
    if (fault.kind === 'stall') return;
    if (fault.kind === 'disconnect') {
      res.writeHead(200, { ...this.headers(start, 0, true), 'content-length': '4096' });
      res.write('{"id":"chatcmpl-', () => res.destroy());
      return;
    }
    this.sendJson(res, 500, errorBody(fault.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error'), start);
  }

  private chat(res: ServerResponse, fault: Fault | undefined, body: unknown, start: number): void {
    if (!isChatBody(body)) {
      return this.sendJson(res, 400, errorBody("Missing required parameter: 'messages'.", 'invalid_request_error', 'missing_required_parameter', 'messages'), start);
    }
    const override = this.reply?.(body);
    const toolCalls = override?.toolCalls !== undefined && override.toolCalls.length > 0 ? override.toolCalls : undefined;
    const text = override?.text ?? (toolCalls === undefined ? echoText(body) : undefined);
    const prompt = promptTokens(body);
    const id = 'chatcmpl-' + this.nextId();
    const created = Math.floor(Date.now() / 1000);
    const callIds = toolCalls?.map(() => 'call_' + randomBytes(12).toString('hex'));

    if (body.stream !== true) {
      if (fault !== undefined && (fault.kind === 'stall' || fault.kind === 'disconnect' || fault.kind === 'in-band-error')) {
        return this.nonStreamingFault(res, fault, start);
      }
      let completion = text === undefined ? 0 : splitTokens(text).length;
      const message: Record<string, unknown> = { role: 'assistant', content: text ?? null };
      if (toolCalls !== undefined && callIds !== undefined) {
        message.tool_calls = toolCalls.map((c, i) => ({ id: callIds[i], type: 'function', function: { name: c.name, arguments: c.arguments } }));
        for (const c of toolCalls) completion += argumentFragments(c.arguments).length + 1;
      }
      message.refusal = null;
      message.annotations = [];
      const payload = JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: toolCalls === undefined ? 'stop' : 'tool_calls' }],
        usage: usage(prompt, completion),
        service_tier: 'default',
        system_fingerprint: SYSTEM_FINGERPRINT,
      });
      res.writeHead(200, this.headers(start, prompt, true));
      res.end(payload);
      return;
    }

    // Stream: the opening chunk, then body chunks (the ones a fault's afterChunks counts), then the tail.
    const includeUsage = body.stream_options?.include_usage === true;
    const head = `{"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(body.model)},"service_tier":"default","system_fingerprint":"${SYSTEM_FINGERPRINT}","choices":[`;
    const tail = includeUsage ? '],"usage":null}' : ']}';
    const event = (delta: unknown, finish: string | null): string =>
      `data: ${head}{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}${tail}\n\n`;

    const events: string[] = [];
    let completion = 0;
    if (text !== undefined || toolCalls === undefined) {
      events.push(event({ role: 'assistant', content: '', refusal: null }, null));
      for (const token of splitTokens(text ?? '')) {
        events.push(event({ content: token }, null));
        completion++;
      }
    }
    if (toolCalls !== undefined && callIds !== undefined) {
      toolCalls.forEach((c, index) => {
        const opening = { index, id: callIds[index], type: 'function', function: { name: c.name, arguments: '' } };
        // With no text, OpenAI folds the role into the first tool-call chunk.
        events.push(events.length === 0
          ? event({ role: 'assistant', content: null, tool_calls: [opening], refusal: null }, null)
          : event({ tool_calls: [opening] }, null));
        completion++;
        for (const fragment of argumentFragments(c.arguments)) {
          events.push(event({ tool_calls: [{ index, function: { arguments: fragment } }] }, null));
          completion++;
        }
      });
    }
    // Azure opens with the prompt's content-filter verdict, a chunk with no choices and no id.
    if (this.azure) events[0] = `data: ${JSON.stringify({ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: [{ prompt_index: 0, content_filter_results: azureFilterResults }] })}\n\n${events[0]}`;
    const bodyChunks = events.length - 1;
    events.push(event({}, toolCalls === undefined ? 'stop' : 'tool_calls'));
    if (includeUsage) {
      events.push(`data: ${head}],"usage":${JSON.stringify(usage(prompt, completion))}}\n\n`);
    }
    events.push('data: [DONE]\n\n');

    // finish() writes whatever is still unsent, then ends the stream the way the fault says.
    let stopAt = events.length;
    let finish = (rest: string): void => void res.end(rest);
    if (fault !== undefined && (fault.kind === 'stall' || fault.kind === 'disconnect' || fault.kind === 'in-band-error')) {
      stopAt = 1 + Math.min(Math.max(fault.afterChunks, 0), bodyChunks);
      if (fault.kind === 'stall') {
        finish = (rest) => void (rest === '' || res.write(rest));
      } else if (fault.kind === 'disconnect') {
        finish = (rest) => void (rest === '' ? res.destroy() : res.write(rest, () => res.destroy()));
      } else {
        const inBand = `data: ${JSON.stringify(errorBody(fault.message ?? 'The server had an error while processing your request. Sorry about that!', 'server_error'))}\n\n`;
        finish = (rest) => void res.end(rest + inBand);
      }
    }

    res.writeHead(200, this.headers(start, prompt, false));
    this.writePaced(res, events, stopAt, (rest) => finish(rest.join('')));
  }
}

function usage(prompt: number, completion: number): Record<string, unknown> {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function argumentFragments(args: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += ARGUMENT_FRAGMENT_CHARS) out.push(args.slice(i, i + ARGUMENT_FRAGMENT_CHARS));
  return out;
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const fake = new Fake(opts);
  const origin = await listenLocal(fake.server, opts.port);
  fake.url = opts.azure ? origin : `${origin}/v1`;
  return fake;
}

if (import.meta.main) await runStandalone('FAKE_OPENAI_URL', (opts) => startFakeOpenAI(opts));
