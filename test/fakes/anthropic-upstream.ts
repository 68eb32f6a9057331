// A local stand-in for api.anthropic.com: the Messages API's exact wire format (JSON and SSE, tool
// use, thinking, cache usage), its headers, validation and error bodies, plus scripted faults so
// gateway tests can pin failure behaviour.
// The shared scaffolding (fault queue, recording, timers, standalone mode) is in fake-server.ts.
// Standalone: `scripts/node.sh test/fakes/anthropic-upstream.ts --port 0`.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { FakeServer, listenLocal, parseJsonBody, runStandalone } from './fake-server.ts';
import type { FakeServerOptions, FakeUpstream } from './fake-server.ts';
import { splitTokens } from './openai-upstream.ts';

export type Fault =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | {
      kind: 'rate-limit';
      /** Sent as `retry-after` when given; without it only the reset timestamps say when. */
      retryAfterSeconds?: number;
      /** The exhausted limit's `anthropic-ratelimit-*-reset`; default now + retryAfterSeconds (or 1 s). */
      resetAt?: Date;
      /** Which limit ran out (its `remaining` header is 0); default requests. */
      limit?: 'requests' | 'input-tokens' | 'output-tokens';
    }
  | { kind: 'reset' }
  | { kind: 'slow-first-byte'; ms: number }
  | { kind: 'stall'; afterEvents: number }
  | { kind: 'disconnect'; afterEvents: number }
  | { kind: 'in-band-error'; afterEvents: number; errorType?: string; message?: string };

export interface Block {
  type: string;
  [key: string]: unknown;
}

export interface MessageParam {
  role: string;
  content: string | Block[];
}

export interface MessagesBody {
  model: string;
  max_tokens: number;
  messages: MessageParam[];
  system?: string | Block[];
  stop_sequences?: string[];
  stream?: boolean;
  [key: string]: unknown;
}

export interface ToolUseReply {
  name: string;
  input: Record<string, unknown>;
}

export interface ReplyOverride {
  text?: string;
  toolCalls?: ToolUseReply[];
  /** A thinking block before the text, as extended thinking sends it. */
  thinking?: string;
  /** Default: tool_use with tool calls, max_tokens or stop_sequence when they cut the text, else end_turn. */
  stopReason?: string;
  cacheCreationInputTokens?: number;
  cacheReadInputTokens?: number;
}

export type ReplyFn = (body: MessagesBody) => ReplyOverride;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Raw `x-api-key` (or bearer token), so tests can check key rotation; undefined when none came. */
  apiKey: string | undefined;
  /** Parsed JSON body; undefined for GET or unparseable bodies. */
  body: unknown;
  receivedAt: number;
  /** The fault applied; undefined for requests that take no fault (models, 401s, bad input). */
  fault: Fault | undefined;
}

export interface FakeAnthropicOptions extends FakeServerOptions {
  /** Accepted API keys; default accepts any non-empty key. */
  validKeys?: readonly string[];
  reply?: ReplyFn;
  /** Listed by GET /v1/models. Messages accept any model regardless. */
  models?: readonly string[];
}

/** Faults are consumed one per authorised, valid POST /v1/messages. */
export interface FakeAnthropic extends FakeUpstream<Fault, RecordedRequest> {
  /** Base URL without /v1, as the Anthropic SDK takes it. */
  url: string;
  reply: ReplyFn | undefined;
}

const ORGANIZATION_ID = '3f2b8c1e-7d4a-4e29-9b6f-0c5a1d8e2f47';
const LIMIT_REQUESTS = 4_000;
const LIMIT_INPUT_TOKENS = 2_000_000;
const LIMIT_OUTPUT_TOKENS = 400_000;
const ARGUMENT_FRAGMENT_CHARS = 8;
const SIGNATURE = 'EqQBCkYIBRgCKkD0fakeSignatureForTests0000000000000000000000000000000000000000';

/** Top-level fields the Messages API accepts; anything else is "Extra inputs are not permitted". */
const knownFields = new Set([
  'model', 'messages', 'max_tokens', 'system', 'stop_sequences', 'stream', 'temperature', 'top_p', 'top_k',
  'tools', 'tool_choice', 'metadata', 'thinking', 'service_tier', 'container', 'mcp_servers', 'context_management',
]);

// ---------------------------------------------------------------- content

function blockText(content: string | Block[] | undefined, withToolResults: boolean): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const block of content) {
    if (block.type === 'text' && typeof block.text === 'string') texts.push(block.text);
    else if (withToolResults && block.type === 'tool_result') {
      const inner = block.content;
      texts.push(typeof inner === 'string' ? inner : Array.isArray(inner) ? blockText(inner as Block[], false) : '');
    }
  }
  return texts.join('\n');
}

function countWords(text: string): number {
  let n = 0;
  for (const _ of text.matchAll(/\S+/g)) n++;
  return n;
}

/** "Echo: " and the text of the last user turn (its text blocks and tool results). */
export function echoText(body: MessagesBody): string {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m = body.messages[i];
    if (m.role === 'user') return 'Echo: ' + blockText(m.content, true);
  }
  return 'Echo: ';
}

function inputTokens(body: MessagesBody): number {
  let n = countWords(blockText(body.system, false));
  for (const m of body.messages) n += countWords(blockText(m.content, true));
  return n;
}

function fragments(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += ARGUMENT_FRAGMENT_CHARS) out.push(text.slice(i, i + ARGUMENT_FRAGMENT_CHARS));
  return out;
}

function randomId(chars: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (const byte of randomBytes(chars)) out += alphabet[byte % alphabet.length];
  return out;
}

/** RFC 3339 to the second, as Anthropic's reset headers are written. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------- validation

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Anthropic's 400 message for a body it would reject, or undefined for a valid one. */
export function invalidReason(body: unknown): string | undefined {
  if (!isRecord(body)) return 'Input should be a valid dictionary or object to extract fields from';
  for (const field of Object.keys(body)) if (!knownFields.has(field)) return `${field}: Extra inputs are not permitted`;
  if (typeof body.model !== 'string') return 'model: Field required';
  if (body.max_tokens === undefined) return 'max_tokens: Field required';
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) return 'max_tokens: Input should be a valid integer greater than or equal to 1';
  if (typeof body.temperature === 'number' && (body.temperature < 0 || body.temperature > 1)) return 'temperature: Input should be less than or equal to 1';
  if (!Array.isArray(body.messages)) return 'messages: Field required';
  const messages = body.messages as unknown[];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isRecord(m)) return `messages.${i}: Input should be a valid dictionary`;
    if (m.role === 'system') return 'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.';
    if (m.role !== 'user' && m.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    const content = m.content;
    const last = i === messages.length - 1 && m.role === 'assistant';
    if (typeof content === 'string') {
      if (content === '' && !last) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
      continue;
    }
    if (!Array.isArray(content)) return `messages.${i}.content: Field required`;
    if (content.length === 0 && !last) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    for (let j = 0; j < content.length; j++) {
      const block: unknown = content[j];
      if (!isRecord(block) || typeof block.type !== 'string') return `messages.${i}.content.${j}: Input should be a valid dictionary`;
      if (block.type === 'text' && (typeof block.text !== 'string' || block.text === '')) return 'messages: text content blocks must be non-empty';
    }
    const pairing = toolPairing(messages, i);
    if (pairing !== undefined) return pairing;
  }
  return undefined;
}

function ids(message: unknown, type: 'tool_use' | 'tool_result'): string[] {
  if (!isRecord(message) || !Array.isArray(message.content)) return [];
  const key = type === 'tool_use' ? 'id' : 'tool_use_id';
  return (message.content as unknown[]).filter((b) => isRecord(b) && b.type === type).map((b) => String((b as Record<string, unknown>)[key]));
}

/** Every tool_use is answered by a tool_result in the very next turn, and every tool_result answers one. */
function toolPairing(messages: unknown[], i: number): string | undefined {
  const m = messages[i] as Record<string, unknown>;
  if (m.role === 'user') {
    const asked = new Set(ids(messages[i - 1], 'tool_use'));
    const results = ids(m, 'tool_result');
    const stray = results.find((id) => !asked.has(id));
    if (stray !== undefined) return `messages.${i}.content.0: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${stray}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
  } else if (i + 1 < messages.length) {
    const answered = new Set(ids(messages[i + 1], 'tool_result'));
    const open = ids(m, 'tool_use').filter((id) => !answered.has(id));
    if (open.length > 0) return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${open.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
  }
  return undefined;
}

// ---------------------------------------------------------------- errors

interface AnthropicErrorBody {
  type: 'error';
  error: { type: string; message: string };
  request_id: string;
}

function requestId(): string {
  return 'req_011C' + randomId(20);
}

function errorBody(type: string, message: string): AnthropicErrorBody {
  return { type: 'error', error: { type, message }, request_id: requestId() };
}

/** The body Anthropic sends for a status when a test does not supply one. */
export function defaultErrorBody(status: number): AnthropicErrorBody {
  switch (status) {
    case 400: return errorBody('invalid_request_error', 'Invalid request.');
    case 401: return errorBody('authentication_error', 'invalid x-api-key');
    case 402: return errorBody('billing_error', 'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.');
    case 403: return errorBody('permission_error', 'Your API key does not have permission to use the specified resource.');
    case 404: return errorBody('not_found_error', 'Not Found');
    case 409: return errorBody('conflict_error', 'Conflict.');
    case 413: return errorBody('request_too_large', 'Request exceeds the maximum allowed number of bytes.');
    case 429: return errorBody('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit.');
    case 500: return errorBody('api_error', 'Internal server error');
    case 504: return errorBody('timeout_error', 'Request timed out');
    case 529: return errorBody('overloaded_error', 'Overloaded');
    default: return status >= 500 ? errorBody('api_error', 'Internal server error') : errorBody('invalid_request_error', 'Invalid request.');
  }
}

const statusByErrorType: ReadonlyMap<string, number> = new Map([
  ['invalid_request_error', 400], ['authentication_error', 401], ['billing_error', 402], ['permission_error', 403],
  ['not_found_error', 404], ['conflict_error', 409], ['request_too_large', 413], ['rate_limit_error', 429],
  ['api_error', 500], ['timeout_error', 504], ['overloaded_error', 529],
]);

// ---------------------------------------------------------------- the reply

interface Reply {
  id: string;
  model: string;
  content: Block[];
  stopReason: string;
  stopSequence: string | null;
  usage: { input: number; cacheCreation: number; cacheRead: number; output: number };
  /** The text the reply streams, word by word (already cut by max_tokens or a stop sequence). */
  textTokens: string[];
}

function buildReply(body: MessagesBody, override: ReplyOverride | undefined): Reply {
  const toolCalls = override?.toolCalls !== undefined && override.toolCalls.length > 0 ? override.toolCalls : undefined;
  const fullText = override?.text ?? (toolCalls === undefined ? echoText(body) : undefined);
  let stopReason = toolCalls === undefined ? 'end_turn' : 'tool_use';
  let stopSequence: string | null = null;
  let textTokens = fullText === undefined ? [] : splitTokens(fullText);
  if (fullText !== undefined) {
    const cut = stopAt(fullText, body.stop_sequences);
    if (cut !== undefined) {
      textTokens = splitTokens(fullText.slice(0, cut.index));
      stopReason = 'stop_sequence';
      stopSequence = cut.sequence;
    }
    if (textTokens.length > body.max_tokens) {
      textTokens = textTokens.slice(0, body.max_tokens);
      stopReason = 'max_tokens';
      stopSequence = null;
    }
  }
  const content: Block[] = [];
  let output = textTokens.length;
  if (override?.thinking !== undefined) {
    content.push({ type: 'thinking', thinking: override.thinking, signature: SIGNATURE });
    output += splitTokens(override.thinking).length;
  }
  if (fullText !== undefined) content.push({ type: 'text', text: textTokens.join('') });
  for (const call of toolCalls ?? []) {
    content.push({ type: 'tool_use', id: 'toolu_01' + randomId(22), name: call.name, input: call.input });
    output += fragments(JSON.stringify(call.input)).length + 1;
  }
  return {
    id: 'msg_01' + randomId(22),
    model: body.model,
    content,
    stopReason: override?.stopReason ?? stopReason,
    stopSequence,
    usage: { input: inputTokens(body), cacheCreation: override?.cacheCreationInputTokens ?? 0, cacheRead: override?.cacheReadInputTokens ?? 0, output },
    textTokens,
  };
}

function stopAt(text: string, sequences: string[] | undefined): { index: number; sequence: string } | undefined {
  let best: { index: number; sequence: string } | undefined;
  for (const sequence of sequences ?? []) {
    const index = text.indexOf(sequence);
    if (index !== -1 && (best === undefined || index < best.index)) best = { index, sequence };
  }
  return best;
}

function usageJson(u: Reply['usage'], outputTokens: number): Record<string, unknown> {
  return {
    input_tokens: u.input,
    cache_creation_input_tokens: u.cacheCreation,
    cache_read_input_tokens: u.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: u.cacheCreation, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

function messageJson(reply: Reply): Record<string, unknown> {
  return {
    id: reply.id,
    type: 'message',
    role: 'assistant',
    model: reply.model,
    content: reply.content,
    stop_reason: reply.stopReason,
    stop_sequence: reply.stopSequence,
    usage: usageJson(reply.usage, reply.usage.output),
  };
}

function sse(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The stream: message_start, then the body events a fault's afterEvents counts, then the tail. */
function streamEvents(reply: Reply): { head: string; body: string[]; tail: string[] } {
  const head = sse('message_start', { type: 'message_start', message: { ...messageJson(reply), content: [], stop_reason: null, stop_sequence: null, usage: usageJson(reply.usage, 1) } });
  const body: string[] = [];
  reply.content.forEach((block, index) => {
    const delta = (d: Record<string, unknown>): void => void body.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: d }));
    const start = (b: Record<string, unknown>): void => {
      body.push(sse('content_block_start', { type: 'content_block_start', index, content_block: b }));
      // Anthropic sends one ping early in every stream, after the first block opens.
      if (index === 0) body.push('event: ping\ndata: {"type": "ping"}\n\n');
    };
    if (block.type === 'thinking') {
      start({ type: 'thinking', thinking: '', signature: '' });
      for (const token of splitTokens(String(block.thinking))) delta({ type: 'thinking_delta', thinking: token });
      delta({ type: 'signature_delta', signature: block.signature });
    } else if (block.type === 'text') {
      start({ type: 'text', text: '' });
      for (const token of reply.textTokens) delta({ type: 'text_delta', text: token });
    } else {
      start({ type: 'tool_use', id: block.id, name: block.name, input: {} });
      delta({ type: 'input_json_delta', partial_json: '' });
      for (const fragment of fragments(JSON.stringify(block.input))) delta({ type: 'input_json_delta', partial_json: fragment });
    }
    body.push(sse('content_block_stop', { type: 'content_block_stop', index }));
  });
  const u = reply.usage;
  const tail = [
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: reply.stopReason, stop_sequence: reply.stopSequence },
      usage: { input_tokens: u.input, cache_creation_input_tokens: u.cacheCreation, cache_read_input_tokens: u.cacheRead, output_tokens: u.output },
    }),
    sse('message_stop', { type: 'message_stop' }),
  ];
  return { head, body, tail };
}

// ---------------------------------------------------------------- server

type StreamFault = Extract<Fault, { kind: 'stall' | 'disconnect' | 'in-band-error' }>;

function isStreamFault(fault: Fault | undefined): fault is StreamFault {
  return fault !== undefined && (fault.kind === 'stall' || fault.kind === 'disconnect' || fault.kind === 'in-band-error');
}

class Fake extends FakeServer<Fault, RecordedRequest> implements FakeAnthropic {
  reply: ReplyFn | undefined;

  private readonly validKeys: ReadonlySet<string> | undefined;
  private readonly models: readonly string[];

  constructor(opts: FakeAnthropicOptions) {
    super(opts);
    this.validKeys = opts.validKeys === undefined ? undefined : new Set(opts.validKeys);
    this.reply = opts.reply;
    this.models = opts.models ?? ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1'];
  }

  // -------------------------------------------------------------- request intake

  protected handle(req: IncomingMessage, res: ServerResponse, rawBody: Buffer, receivedAt: number): void {
    const { body, badJson } = parseJsonBody(rawBody);
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    // `x-api-key` is the documented header; the SDK (since 1.x) sends the key as a bearer token.
    const header = req.headers['x-api-key'];
    const auth = req.headers.authorization;
    const apiKey = typeof header === 'string' ? header : auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    const record: RecordedRequest = { method, path, headers: req.headers, apiKey, body, receivedAt, fault: undefined };

    const route = method === 'POST' && path === '/v1/messages' ? 'messages' : method === 'GET' && path === '/v1/models' ? 'models' : 'unknown';
    let rejection: { status: number; body: AnthropicErrorBody } | undefined;
    if (apiKey === undefined || apiKey === '') rejection = { status: 401, body: errorBody('authentication_error', 'x-api-key header is required') };
    else if (this.validKeys !== undefined && !this.validKeys.has(apiKey)) rejection = { status: 401, body: errorBody('authentication_error', 'invalid x-api-key') };
    else if (req.headers['anthropic-version'] === undefined) rejection = { status: 400, body: errorBody('invalid_request_error', 'anthropic-version: header is required') };
    else if (route === 'unknown') rejection = { status: 404, body: errorBody('not_found_error', 'Not Found') };
    else if (route === 'messages' && badJson) rejection = { status: 400, body: errorBody('invalid_request_error', 'There was an error parsing the body of your request as JSON.') };
    else if (route === 'messages') {
      const reason = invalidReason(body);
      if (reason !== undefined) rejection = { status: 400, body: errorBody('invalid_request_error', reason) };
    }
    if (rejection === undefined && route === 'messages') record.fault = this.takeFault();
    this.record(record);

    const start = Date.now();
    if (rejection !== undefined) {
      const { status, body: errBody } = rejection;
      return this.later(res, this.latencyMs, () => this.sendJson(res, status, errBody, start));
    }
    if (route === 'models') return this.later(res, this.latencyMs, () => this.sendModels(res, start));
    this.answer(req, res, record.fault, body as MessagesBody, start);
  }

  // -------------------------------------------------------------- faults and timing

  private answer(req: IncomingMessage, res: ServerResponse, fault: Fault | undefined, body: MessagesBody, start: number): void {
    const delay = fault?.kind === 'slow-first-byte' ? fault.ms : this.latencyMs;
    switch (fault?.kind) {
      case 'reset':
        return this.later(res, delay, () => req.socket.destroy());
      case 'status': {
        const errBody = fault.body ?? defaultErrorBody(fault.status);
        return this.later(res, delay, () => this.sendJson(res, fault.status, errBody, start, fault.headers));
      }
      case 'rate-limit':
        return this.later(res, delay, () => this.sendRateLimit(res, fault, start));
      default:
        return this.later(res, delay, () => this.messages(res, fault, body, start));
    }
  }

  // -------------------------------------------------------------- responses

  private headers(start: number, json: boolean, limits?: { exhausted: string; resetAt: number }): Record<string, string> {
    const soon = rfc3339(start + 1000);
    const headers: Record<string, string> = {
      'content-type': json ? 'application/json' : 'text/event-stream; charset=utf-8',
      'request-id': requestId(),
      'anthropic-organization-id': ORGANIZATION_ID,
      'anthropic-ratelimit-requests-limit': String(LIMIT_REQUESTS),
      'anthropic-ratelimit-requests-remaining': String(LIMIT_REQUESTS - 1),
      'anthropic-ratelimit-requests-reset': soon,
      'anthropic-ratelimit-input-tokens-limit': String(LIMIT_INPUT_TOKENS),
      'anthropic-ratelimit-input-tokens-remaining': String(LIMIT_INPUT_TOKENS),
      'anthropic-ratelimit-input-tokens-reset': soon,
      'anthropic-ratelimit-output-tokens-limit': String(LIMIT_OUTPUT_TOKENS),
      'anthropic-ratelimit-output-tokens-remaining': String(LIMIT_OUTPUT_TOKENS),
      'anthropic-ratelimit-output-tokens-reset': soon,
      'anthropic-ratelimit-tokens-limit': String(LIMIT_INPUT_TOKENS + LIMIT_OUTPUT_TOKENS),
      'anthropic-ratelimit-tokens-remaining': String(LIMIT_INPUT_TOKENS + LIMIT_OUTPUT_TOKENS),
      'anthropic-ratelimit-tokens-reset': soon,
      'x-envoy-upstream-service-time': String(Date.now() - start),
    };
    if (!json) headers['cache-control'] = 'no-cache';
    if (limits !== undefined) {
      headers[`anthropic-ratelimit-${limits.exhausted}-remaining`] = '0';
      headers[`anthropic-ratelimit-${limits.exhausted}-reset`] = rfc3339(limits.resetAt);
    }
    return headers;
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, start: number, extra?: Record<string, string>): void {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { ...this.headers(start, true), ...extra });
    res.end(payload);
  }

  private sendRateLimit(res: ServerResponse, fault: Extract<Fault, { kind: 'rate-limit' }>, start: number): void {
    const limit = fault.limit ?? 'requests';
    const resetAt = fault.resetAt?.getTime() ?? start + (fault.retryAfterSeconds ?? 1) * 1000;
    const headers = this.headers(start, true, { exhausted: limit, resetAt });
    if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
    const amount = limit === 'requests' ? `${LIMIT_REQUESTS} requests` : limit === 'input-tokens' ? `${LIMIT_INPUT_TOKENS} input tokens` : `${LIMIT_OUTPUT_TOKENS} output tokens`;
    const body = errorBody('rate_limit_error', `This request would exceed the rate limit for your organization (${ORGANIZATION_ID}) of ${amount} per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.`);
    res.writeHead(429, headers);
    res.end(JSON.stringify(body));
  }

  private sendModels(res: ServerResponse, start: number): void {
    const data = this.models.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-09-29T00:00:00Z' }));
    this.sendJson(res, 200, { data, has_more: false, first_id: data.at(0)?.id ?? null, last_id: data.at(-1)?.id ?? null }, start);
  }

  private messages(res: ServerResponse, fault: Fault | undefined, body: MessagesBody, start: number): void {
    const reply = buildReply(body, this.reply?.(body));
    if (body.stream !== true) {
      if (isStreamFault(fault)) return this.nonStreamingFault(res, fault, start);
      res.writeHead(200, this.headers(start, true));
      res.end(JSON.stringify(messageJson(reply)));
      return;
    }

    const { head, body: events, tail } = streamEvents(reply);
    const all = [head, ...events, ...tail];
    // finish() writes whatever is still unsent, then ends the stream the way the fault says.
    let stopAt = all.length;
    let finish = (rest: string): void => void res.end(rest);
    if (isStreamFault(fault)) {
      stopAt = 1 + Math.min(Math.max(fault.afterEvents, 0), events.length);
      if (fault.kind === 'stall') {
        finish = (rest) => void (rest === '' || res.write(rest));
      } else if (fault.kind === 'disconnect') {
        finish = (rest) => void (rest === '' ? res.destroy() : res.write(rest, () => res.destroy()));
      } else {
        const type = fault.errorType ?? 'overloaded_error';
        const inBand = sse('error', { type: 'error', error: { type, message: fault.message ?? defaultErrorBody(statusByErrorType.get(type) ?? 500).error.message } });
        finish = (rest) => void res.end(rest + inBand);
      }
    }

    res.writeHead(200, this.headers(start, false));
    this.writePaced(res, all, stopAt, (rest) => finish(rest.join('')));
  }

  /** Stream-shaped faults on a plain request: stall = never answer; disconnect = half a body; in-band-error = its type's status. */
  private nonStreamingFault(res: ServerResponse, fault: StreamFault, start: number): void {
    if (fault.kind === 'stall') return;
    if (fault.kind === 'disconnect') {
      res.writeHead(200, { ...this.headers(start, true), 'content-length': '4096' });
      res.write('{"id":"msg_01', () => res.destroy());
      return;
    }
    const type = fault.errorType ?? 'overloaded_error';
    const status = statusByErrorType.get(type) ?? 500;
    this.sendJson(res, status, fault.message === undefined ? defaultErrorBody(status) : errorBody(type, fault.message), start);
  }
}

export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const fake = new Fake(opts);
  fake.url = await listenLocal(fake.server, opts.port);
  return fake;
}

if (import.meta.main) await runStandalone('FAKE_ANTHROPIC_URL', (opts) => startFakeAnthropic(opts));
