// A local stand-in for bedrock-runtime.{region}.amazonaws.com: the Converse and ConverseStream
// APIs on Bedrock's wire (JSON, and the binary application/vnd.amazon.eventstream framing, encoded
// here by hand so a client's decoder is checked against the spec, not against itself), SigV4 or
// API-key authentication, Bedrock's error headers and bodies, and scripted faults.
// The shared scaffolding (fault queue, recording, timers, standalone mode) is in fake-server.ts.
// Standalone for the benchmark: `scripts/node.sh test/fakes/bedrock-upstream.ts --port 0`.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { FakeServer, listenLocal, parseJsonBody, runStandalone } from './fake-server.ts';
import type { FakeServerOptions, FakeUpstream } from './fake-server.ts';

/** Exceptions ConverseStream can send inside a 200 stream, by their event-stream names. */
export type StreamException =
  | 'throttlingException'
  | 'modelStreamErrorException'
  | 'internalServerException'
  | 'serviceUnavailableException'
  | 'validationException';

export type Fault =
  | { kind: 'ok' }
  /** An HTTP error; `errorType` defaults to Bedrock's exception for the status (400 ValidationException, 429 ThrottlingException, …). */
  | { kind: 'status'; status: number; errorType?: string; message?: string; headers?: Record<string, string> }
  /** 429 ThrottlingException. */
  | { kind: 'rate-limit'; message?: string }
  | { kind: 'reset' }
  | { kind: 'slow-first-byte'; ms: number }
  /** Streams: events after messageStart, then silence / a cut socket / an exception frame. */
  | { kind: 'stall'; afterEvents: number }
  | { kind: 'disconnect'; afterEvents: number }
  | { kind: 'in-band-error'; afterEvents: number; exception?: StreamException; message?: string };

export interface ToolUseReply {
  name: string;
  input: unknown;
  toolUseId?: string;
}

export interface ReplyOverride {
  text?: string;
  toolUses?: ToolUseReply[];
  /** Default end_turn, or tool_use when there are tool uses. */
  stopReason?: string;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}

export interface ConverseBody {
  messages: { role: string; content: Record<string, unknown>[] }[];
  system?: Record<string, unknown>[];
  inferenceConfig?: Record<string, unknown>;
  toolConfig?: Record<string, unknown>;
  [key: string]: unknown;
}

export type ReplyFn = (body: ConverseBody, modelId: string) => ReplyOverride;

export type RecordedAuth =
  | { scheme: 'bearer'; key: string }
  | { scheme: 'sigv4'; accessKeyId: string; date: string; region: string; service: string; signedHeaders: string[]; sessionToken: string | undefined; verified: boolean };

export interface RecordedRequest {
  method: string;
  /** The path as sent, still percent-encoded: /model/anthropic.claude-3-haiku-20240307-v1%3A0/converse. */
  path: string;
  /** The decoded model id from the path; undefined for other paths. */
  modelId: string | undefined;
  operation: 'converse' | 'converse-stream' | undefined;
  headers: IncomingHttpHeaders;
  auth: RecordedAuth | undefined;
  /** Parsed JSON body; undefined when not JSON. */
  body: unknown;
  rawBody: Buffer;
  receivedAt: number;
  /** The fault applied; undefined for requests that take none (auth failures, bad input, unknown paths). */
  fault: Fault | undefined;
}

export interface AwsTestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface FakeBedrockOptions extends FakeServerOptions {
  /** The region signatures must be scoped to; default us-east-1. */
  region?: string;
  /** When given, SigV4 signatures are recomputed with these and must match; otherwise any well-formed signature passes. */
  credentials?: readonly AwsTestCredentials[];
  /** Accepted Bedrock API keys (Bearer); default accepts any non-empty key. */
  validKeys?: readonly string[];
  reply?: ReplyFn;
}

/** Faults are consumed one per authenticated, valid converse / converse-stream request. */
export interface FakeBedrock extends FakeUpstream<Fault, RecordedRequest> {
  /** Endpoint to use as the adapter's baseUrl: http://127.0.0.1:<port>. */
  url: string;
  region: string;
  reply: ReplyFn | undefined;
  /**
   * When set, a stream body is written in pieces of these sizes (cycling), one write per piece with
   * an event-loop turn between, so frames reach the client split at awkward byte offsets.
   */
  writeSizes: number[] | undefined;
}

const ERROR_NAMESPACE = ':http://internal.amazon.com/coral/com.amazon.bedrock/';
const ARGUMENT_FRAGMENT_CHARS = 8;
const PADDING = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

const exceptionForStatus: Record<number, string> = {
  400: 'ValidationException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  408: 'ModelTimeoutException',
  424: 'ModelErrorException',
  429: 'ThrottlingException',
  500: 'InternalServerException',
  503: 'ServiceUnavailableException',
};

const exceptionMessages: Record<string, string> = {
  ValidationException: 'Malformed input request, please reformat your input and try again.',
  AccessDeniedException: "You don't have access to the model with the specified model ID.",
  ResourceNotFoundException: 'Could not resolve the foundation model from the provided model identifier.',
  ModelTimeoutException: 'Model has timed out in processing the request. Try your request again.',
  ModelErrorException: 'The model returned an error while processing the request.',
  ModelNotReadyException: 'Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.',
  ThrottlingException: 'Too many requests, please wait before trying again.',
  ServiceQuotaExceededException: 'Your request exceeds the service quota for your account.',
  InternalServerException: 'The server encountered an internal error while processing the request.',
  ServiceUnavailableException: 'Bedrock is unable to process your request.',
};

// ---------------------------------------------------------------- event stream encoding

/** One application/vnd.amazon.eventstream message with string headers (type 7). */
export function encodeFrame(headers: Record<string, string>, payload: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const head = Buffer.alloc(1 + n.length + 3);
    head.writeUInt8(n.length, 0);
    n.copy(head, 1);
    head.writeUInt8(7, 1 + n.length);
    head.writeUInt16BE(v.length, 2 + n.length);
    parts.push(head, v);
  }
  const headerBytes = Buffer.concat(parts);
  const total = 12 + headerBytes.length + payload.length + 4;
  const frame = Buffer.alloc(total);
  frame.writeUInt32BE(total, 0);
  frame.writeUInt32BE(headerBytes.length, 4);
  frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8);
  headerBytes.copy(frame, 12);
  Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).copy(frame, 12 + headerBytes.length);
  frame.writeUInt32BE(crc32(frame.subarray(0, total - 4)), total - 4);
  return frame;
}

function eventFrame(eventType: string, payload: unknown): Buffer {
  return encodeFrame({ ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' }, Buffer.from(JSON.stringify(payload)));
}

function exceptionFrame(exceptionType: string, payload: unknown): Buffer {
  return encodeFrame({ ':exception-type': exceptionType, ':content-type': 'application/json', ':message-type': 'exception' }, Buffer.from(JSON.stringify(payload)));
}

/** Bedrock pads stream events with a random-length `p` so sizes do not leak the text. */
function padding(): string {
  return PADDING.slice(0, 1 + (randomBytes(1)[0] % PADDING.length));
}

// ---------------------------------------------------------------- SigV4

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const k = eq === -1 ? pair : pair.slice(0, eq);
      const v = eq === -1 ? '' : pair.slice(eq + 1);
      return [rfc3986(decodeURIComponent(k)), rfc3986(decodeURIComponent(v))];
    })
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** Every service but S3 signs the path as sent, percent-encoded once more, segment by segment. */
function canonicalPath(path: string): string {
  return path.split('/').map(rfc3986).join('/');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const authorizationPattern = /^AWS4-HMAC-SHA256 Credential=([^/\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

export function parseSigV4Authorization(header: string): ParsedAuthorization | undefined {
  const m = authorizationPattern.exec(header);
  if (!m) return undefined;
  return { accessKeyId: m[1], date: m[2], region: m[3], service: m[4], signedHeaders: m[5].split(';'), signature: m[6] };
}

/** The signature a request should carry, computed from the SigV4 spec with node:crypto alone. */
export function expectedSignature(
  req: { method: string; path: string; query: string; headers: IncomingHttpHeaders; body: Buffer },
  auth: Pick<ParsedAuthorization, 'date' | 'region' | 'service' | 'signedHeaders'>,
  secretAccessKey: string,
): string {
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const canonicalHeaders = auth.signedHeaders
    .map((name) => {
      const raw = req.headers[name];
      const value = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
      return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const payloadHash = createHash('sha256').update(req.body).digest('hex');
  const canonicalRequest = [req.method, canonicalPath(req.path), canonicalQuery(req.query), canonicalHeaders, auth.signedHeaders.join(';'), payloadHash].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')].join('\n');
  const kDate = hmac(`AWS4${secretAccessKey}`, auth.date);
  const kSigning = hmac(hmac(hmac(kDate, auth.region), auth.service), 'aws4_request');
  return createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
}

// ---------------------------------------------------------------- content

function countWords(text: string): number {
  let n = 0;
  for (const _ of text.matchAll(/\S+/g)) n++;
  return n;
}

/** Whitespace stays attached to the word before it, so the tokens concatenate to the text exactly. */
export function splitTokens(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text === '' ? [] : [text]);
}

function blockTexts(blocks: Record<string, unknown>[]): string[] {
  const out: string[] = [];
  for (const b of blocks) {
    if (typeof b.text === 'string') out.push(b.text);
    const result = b.toolResult as { content?: { text?: unknown }[] } | undefined;
    if (result && Array.isArray(result.content)) for (const c of result.content) if (typeof c.text === 'string') out.push(c.text);
  }
  return out;
}

export function echoText(body: ConverseBody): string {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m = body.messages[i];
    if (m.role === 'user') return 'Echo: ' + blockTexts(m.content).join('\n');
  }
  return 'Echo: ';
}

function inputTokens(body: ConverseBody): number {
  let n = 0;
  for (const s of body.system ?? []) if (typeof s.text === 'string') n += countWords(s.text);
  for (const m of body.messages) for (const t of blockTexts(m.content)) n += countWords(t);
  return n;
}

function fragments(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += ARGUMENT_FRAGMENT_CHARS) out.push(text.slice(i, i + ARGUMENT_FRAGMENT_CHARS));
  return out;
}

/** Bedrock's own checks on a Converse body, so a client's translation errors surface as they would against AWS. */
function validateBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'Malformed input request, please reformat your input and try again.';
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.messages) || b.messages.length === 0) return 'The messages field is required and must contain at least one message.';
  let previous: string | undefined;
  let usesTools = false;
  for (const [i, raw] of (b.messages as unknown[]).entries()) {
    const m = raw as { role?: unknown; content?: unknown };
    if (m.role !== 'user' && m.role !== 'assistant') return `1 validation error detected: Value at 'messages.${i + 1}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]`;
    if (i === 0 && m.role !== 'user') return 'A conversation must start with a user message. Try again with a conversation that starts with a user message.';
    if (m.role === previous) return 'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.';
    previous = m.role;
    if (!Array.isArray(m.content) || m.content.length === 0) return `The content field in the Message object at messages.${i}.content is empty. Add a ContentBlock object to the content field and try again.`;
    for (const [j, block] of (m.content as unknown[]).entries()) {
      const blk = block as Record<string, unknown>;
      if (typeof blk !== 'object' || blk === null || Object.keys(blk).length !== 1) return `The content block at messages.${i}.content.${j} must hold exactly one member.`;
      if ('text' in blk && (typeof blk.text !== 'string' || blk.text.trim() === '')) return `The text field in the ContentBlock object at messages.${i}.content.${j} is blank. Add text to the text field, and try again.`;
      if ('toolUse' in blk || 'toolResult' in blk) usesTools = true;
    }
  }
  if (usesTools && (typeof b.toolConfig !== 'object' || b.toolConfig === null)) return 'The toolConfig field must be defined when using toolUse and toolResult content blocks.';
  return undefined;
}

// ---------------------------------------------------------------- server

class Fake extends FakeServer<Fault, RecordedRequest> implements FakeBedrock {
  readonly region: string;
  reply: ReplyFn | undefined;
  writeSizes: number[] | undefined;

  private readonly credentials: ReadonlyMap<string, AwsTestCredentials> | undefined;
  private readonly validKeys: ReadonlySet<string> | undefined;

  constructor(opts: FakeBedrockOptions) {
    super(opts);
    this.region = opts.region ?? 'us-east-1';
    this.credentials = opts.credentials === undefined ? undefined : new Map(opts.credentials.map((c) => [c.accessKeyId, c]));
    this.validKeys = opts.validKeys === undefined ? undefined : new Set(opts.validKeys);
    this.reply = opts.reply;
  }

  // -------------------------------------------------------------- request intake

  protected handle(req: IncomingMessage, res: ServerResponse, rawBody: Buffer, receivedAt: number): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    const route = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
    let modelId: string | undefined;
    try {
      modelId = route ? decodeURIComponent(route[1]) : undefined;
    } catch {
      modelId = undefined;
    }
    const operation = route ? (route[2] as 'converse' | 'converse-stream') : undefined;
    const { body } = parseJsonBody(rawBody);
    const record: RecordedRequest = { method, path, modelId, operation, headers: req.headers, auth: undefined, body, rawBody, receivedAt, fault: undefined };

    const denied = this.authenticate(req, path, query, rawBody, record);
    const invalid = denied === undefined && route && method === 'POST' ? validateBody(body) : undefined;
    if (denied === undefined && invalid === undefined && route && method === 'POST' && modelId !== undefined) {
      record.fault = this.takeFault();
    }
    this.record(record);

    if (denied) return this.later(res, this.latencyMs, () => sendError(res, denied.status, denied.type, denied.message));
    if (!route || method !== 'POST' || modelId === undefined) {
      return this.later(res, this.latencyMs, () => sendError(res, 404, 'UnknownOperationException', `Unknown operation ${method} ${path}`));
    }
    if (invalid) return this.later(res, this.latencyMs, () => sendError(res, 400, 'ValidationException', invalid));
    this.answer(req, res, record.fault, body as ConverseBody, modelId, operation === 'converse-stream');
  }

  /** Undefined when the request is authenticated; otherwise the error Bedrock would answer. */
  private authenticate(req: IncomingMessage, path: string, query: string, rawBody: Buffer, record: RecordedRequest): { status: number; type: string; message: string } | undefined {
    const header = req.headers.authorization;
    if (header === undefined || header === '') return { status: 403, type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
    if (header.startsWith('Bearer ')) {
      const key = header.slice(7).trim();
      record.auth = { scheme: 'bearer', key };
      if (key === '' || (this.validKeys !== undefined && !this.validKeys.has(key))) {
        return { status: 403, type: 'AccessDeniedException', message: 'Authentication failed: Please make sure your API Key is valid.' };
      }
      return undefined;
    }
    const auth = parseSigV4Authorization(header);
    if (!auth) return { status: 403, type: 'IncompleteSignatureException', message: `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${header.split(' ')[0]}` };
    const sessionToken = typeof req.headers['x-amz-security-token'] === 'string' ? req.headers['x-amz-security-token'] : undefined;
    const recorded: Extract<RecordedAuth, { scheme: 'sigv4' }> = { scheme: 'sigv4', accessKeyId: auth.accessKeyId, date: auth.date, region: auth.region, service: auth.service, signedHeaders: auth.signedHeaders, sessionToken, verified: false };
    record.auth = recorded;
    const amzDate = req.headers['x-amz-date'];
    if (typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate)) return { status: 403, type: 'IncompleteSignatureException', message: 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.' };
    if (!amzDate.startsWith(auth.date)) return { status: 403, type: 'InvalidSignatureException', message: `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}'` };
    if (auth.service !== 'bedrock') return { status: 403, type: 'InvalidSignatureException', message: "Credential should be scoped to correct service: 'bedrock'." };
    if (auth.region !== this.region) return { status: 403, type: 'InvalidSignatureException', message: `Credential should be scoped to a valid region, not '${auth.region}'.` };
    if (!auth.signedHeaders.includes('host') || !auth.signedHeaders.includes('x-amz-date')) return { status: 403, type: 'InvalidSignatureException', message: "'Host' and 'X-Amz-Date' must be signed headers." };
    const contentSha = req.headers['x-amz-content-sha256'];
    if (typeof contentSha === 'string' && contentSha !== createHash('sha256').update(rawBody).digest('hex')) {
      return { status: 400, type: 'XAmzContentSHA256Mismatch', message: "The provided 'x-amz-content-sha256' header does not match what was computed." };
    }
    if (this.credentials === undefined) return undefined;
    const known = this.credentials.get(auth.accessKeyId);
    if (!known || known.sessionToken !== sessionToken) return { status: 403, type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
    const expected = expectedSignature({ method: req.method ?? 'POST', path, query, headers: req.headers, body: rawBody }, auth, known.secretAccessKey);
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(auth.signature))) {
      return { status: 403, type: 'InvalidSignatureException', message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.' };
    }
    recorded.verified = true;
    return undefined;
  }

  // -------------------------------------------------------------- faults and timing

  private answer(req: IncomingMessage, res: ServerResponse, fault: Fault | undefined, body: ConverseBody, modelId: string, stream: boolean): void {
    const delay = fault?.kind === 'slow-first-byte' ? fault.ms : this.latencyMs;
    switch (fault?.kind) {
      case 'reset':
        return this.later(res, delay, () => req.socket.destroy());
      case 'status': {
        const type = fault.errorType ?? exceptionForStatus[fault.status] ?? (fault.status >= 500 ? 'InternalServerException' : 'ValidationException');
        return this.later(res, delay, () => sendError(res, fault.status, type, fault.message ?? exceptionMessages[type] ?? type, fault.headers));
      }
      case 'rate-limit':
        return this.later(res, delay, () => sendError(res, 429, 'ThrottlingException', fault.message ?? exceptionMessages.ThrottlingException));
      default:
        return this.later(res, delay, () => (stream ? this.converseStream(res, fault, body, modelId) : this.converse(res, fault, body, modelId)));
    }
  }

  // -------------------------------------------------------------- responses

  private plan(body: ConverseBody, modelId: string): { text: string | undefined; toolUses: Required<ToolUseReply>[]; stopReason: string; usage: Record<string, number> } {
    const override = this.reply?.(body, modelId);
    const toolUses = (override?.toolUses ?? []).map((t) => ({ name: t.name, input: t.input, toolUseId: t.toolUseId ?? `tooluse_${randomBytes(16).toString('base64url')}` }));
    const text = override?.text ?? (toolUses.length === 0 ? echoText(body) : undefined);
    let output = text === undefined ? 0 : splitTokens(text).length;
    for (const t of toolUses) output += fragments(JSON.stringify(t.input)).length + 1;
    const input = inputTokens(body);
    const usage: Record<string, number> = { inputTokens: input, outputTokens: output, totalTokens: input + output };
    if (override?.cacheReadInputTokens !== undefined) usage.cacheReadInputTokens = override.cacheReadInputTokens;
    if (override?.cacheWriteInputTokens !== undefined) usage.cacheWriteInputTokens = override.cacheWriteInputTokens;
    usage.totalTokens += (usage.cacheReadInputTokens ?? 0) + (usage.cacheWriteInputTokens ?? 0);
    return { text, toolUses, stopReason: override?.stopReason ?? (toolUses.length > 0 ? 'tool_use' : 'end_turn'), usage };
  }

  private converse(res: ServerResponse, fault: Fault | undefined, body: ConverseBody, modelId: string): void {
    if (fault?.kind === 'stall') return;
    if (fault?.kind === 'disconnect') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-RequestId': randomUUID(), 'content-length': '4096' });
      res.write('{"metrics":{"latencyMs":', () => res.destroy());
      return;
    }
    if (fault?.kind === 'in-band-error') return sendError(res, 500, 'InternalServerException', fault.message ?? exceptionMessages.InternalServerException);
    const started = Date.now();
    const { text, toolUses, stopReason, usage } = this.plan(body, modelId);
    const content: Record<string, unknown>[] = [];
    if (text !== undefined) content.push({ text });
    for (const t of toolUses) content.push({ toolUse: { toolUseId: t.toolUseId, name: t.name, input: t.input } });
    const payload = JSON.stringify({ metrics: { latencyMs: Date.now() - started + 137 }, output: { message: { content, role: 'assistant' } }, stopReason, usage });
    res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-RequestId': randomUUID(), date: new Date().toUTCString() });
    res.end(payload);
  }

  private converseStream(res: ServerResponse, fault: Fault | undefined, body: ConverseBody, modelId: string): void {
    const { text, toolUses, stopReason, usage } = this.plan(body, modelId);
    const frames: Buffer[] = [eventFrame('messageStart', { p: padding(), role: 'assistant' })];
    let block = 0;
    if (text !== undefined) {
      for (const token of splitTokens(text)) frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: block, delta: { text: token }, p: padding() }));
      frames.push(eventFrame('contentBlockStop', { contentBlockIndex: block, p: padding() }));
      block++;
    }
    for (const t of toolUses) {
      frames.push(eventFrame('contentBlockStart', { contentBlockIndex: block, p: padding(), start: { toolUse: { name: t.name, toolUseId: t.toolUseId } } }));
      for (const piece of fragments(JSON.stringify(t.input))) frames.push(eventFrame('contentBlockDelta', { contentBlockIndex: block, delta: { toolUse: { input: piece } }, p: padding() }));
      frames.push(eventFrame('contentBlockStop', { contentBlockIndex: block, p: padding() }));
      block++;
    }
    const bodyEvents = frames.length - 1;
    frames.push(eventFrame('messageStop', { p: padding(), stopReason }));
    frames.push(eventFrame('metadata', { metrics: { latencyMs: 211 }, p: padding(), usage }));

    // finish() writes whatever is still unsent, then ends the stream the way the fault says.
    let stopAt = frames.length;
    let finish = (rest: Buffer): void => void res.end(rest);
    if (fault?.kind === 'stall' || fault?.kind === 'disconnect' || fault?.kind === 'in-band-error') {
      stopAt = 1 + Math.min(Math.max(fault.afterEvents, 0), bodyEvents);
      if (fault.kind === 'stall') {
        finish = (rest) => void (rest.length === 0 || res.write(rest));
      } else if (fault.kind === 'disconnect') {
        finish = (rest) => void (rest.length === 0 ? res.destroy() : res.write(rest, () => res.destroy()));
      } else {
        const exception = fault.exception ?? 'internalServerException';
        const message = fault.message ?? exceptionMessages[exception.charAt(0).toUpperCase() + exception.slice(1)] ?? exception;
        const payload = exception === 'modelStreamErrorException' ? { message, originalMessage: message, originalStatusCode: 500 } : { message };
        const tail = exceptionFrame(exception, payload);
        finish = (rest) => void res.end(Buffer.concat([rest, tail]));
      }
    }

    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-RequestId': randomUUID(), date: new Date().toUTCString() });
    const sizes = this.writeSizes;
    if (sizes !== undefined && sizes.length > 0) return this.writeInPieces(res, Buffer.concat(frames.slice(0, stopAt)), sizes, finish);
    this.writePaced(res, frames, stopAt, (rest) => finish(Buffer.concat(rest)));
  }

  /** One write per piece, each after the previous one is flushed and an event-loop turn has passed. */
  private writeInPieces(res: ServerResponse, bytes: Buffer, sizes: number[], finish: (rest: Buffer) => void): void {
    let offset = 0;
    let n = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (offset >= bytes.length) return finish(Buffer.alloc(0));
      const size = Math.max(1, sizes[n++ % sizes.length]);
      const piece = bytes.subarray(offset, offset + size);
      offset += piece.length;
      res.write(piece, () => setImmediate(next));
    };
    next();
  }
}

function sendError(res: ServerResponse, status: number, errorType: string, message: string, extra?: Record<string, string>): void {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-amzn-RequestId': randomUUID(),
    'x-amzn-ErrorType': errorType + ERROR_NAMESPACE,
    date: new Date().toUTCString(),
    ...extra,
  };
  res.writeHead(status, headers);
  res.end(JSON.stringify({ message }));
}

export async function startFakeBedrock(opts: FakeBedrockOptions = {}): Promise<FakeBedrock> {
  const fake = new Fake(opts);
  fake.url = await listenLocal(fake.server, opts.port);
  return fake;
}

if (import.meta.main) {
  await runStandalone('FAKE_BEDROCK_URL', (opts, flags) => startFakeBedrock({ ...opts, region: flags.region }), { region: 'us-east-1' });
}
