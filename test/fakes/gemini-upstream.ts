// A local stand-in for Google's Gemini API (generativelanguage.googleapis.com, API key) and Vertex
// AI (aiplatform.googleapis.com, bearer token): generateContent and streamGenerateContent in
// Google's exact wire format, Google's error bodies (unknown fields are rejected as Google does),
// plus scripted faults so gateway tests can pin failure behaviour.
// The shared scaffolding (fault queue, recording, timers, standalone mode) is in fake-server.ts.
// Standalone: `scripts/node.sh test/fakes/gemini-upstream.ts --port 0`.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { FakeServer, listenLocal, parseJsonBody, runStandalone } from './fake-server.ts';
import type { FakeServerOptions, FakeUpstream } from './fake-server.ts';

export type Fault =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /** 429 RESOURCE_EXHAUSTED; with `retryDelay` ("12s", "2.5s") the body carries google.rpc.RetryInfo as the Gemini API sends it. */
  | { kind: 'rate-limit'; retryDelay?: string }
  | { kind: 'reset' }
  | { kind: 'slow-first-byte'; ms: number }
  | { kind: 'stall'; afterChunks: number }
  | { kind: 'disconnect'; afterChunks: number }
  /** The stream ends cleanly after N events, before the one with the finishReason. */
  | { kind: 'truncate'; afterChunks: number }
  | { kind: 'in-band-error'; afterChunks: number; message?: string };

export interface FunctionCallReply {
  name: string;
  args: Record<string, unknown>;
}

export interface GeminiReply {
  text?: string;
  functionCalls?: FunctionCallReply[];
  /** Default STOP. SAFETY (and the other block reasons) end the candidate with no further content. */
  finishReason?: string;
  /** The prompt itself is blocked: no candidates, only promptFeedback. */
  blockReason?: string;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
  /** Put on the first function-call part, as Gemini 3 does. */
  thoughtSignature?: string;
}

export interface GenerateContentBody {
  contents: { role?: string; parts: Record<string, unknown>[] }[];
  systemInstruction?: { parts: Record<string, unknown>[] };
  generationConfig?: Record<string, unknown>;
  [key: string]: unknown;
}

export type ReplyFn = (body: GenerateContentBody, model: string) => GeminiReply;

export interface RecordedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Which API the path belongs to; undefined for unknown paths. */
  api: 'gemini' | 'vertex' | undefined;
  model: string | undefined;
  action: 'generateContent' | 'streamGenerateContent' | undefined;
  /** Vertex path parts. */
  project: string | undefined;
  location: string | undefined;
  /** Gemini API key from `x-goog-api-key` or `?key=`. */
  apiKey: string | undefined;
  /** Bearer token from `authorization`. */
  bearer: string | undefined;
  body: unknown;
  receivedAt: number;
  /** The fault applied; undefined for requests that take none (auth failures, invalid bodies, model listing). */
  fault: Fault | undefined;
}

export interface FakeGeminiOptions extends FakeServerOptions {
  /** Accepted Gemini API keys; default accepts any non-empty key. */
  validKeys?: readonly string[];
  /** Accepted Vertex bearer tokens; default accepts any non-empty token. */
  validTokens?: readonly string[];
  reply?: ReplyFn;
  /** Listed by GET /v1beta/models. Generation accepts any model regardless. */
  models?: readonly string[];
}

/** Faults are consumed one per authorised, well-formed generate request. */
export interface FakeGemini extends FakeUpstream<Fault, RecordedRequest> {
  /** Origin only (http://127.0.0.1:port): the Gemini adapter's baseUrl and the Vertex adapter's baseUrl alike. */
  url: string;
  reply: ReplyFn | undefined;
}

type Json = Record<string, unknown>;

const GEMINI_PATH = /^\/(v1|v1beta)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;
const VERTEX_PATH = /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

// ---------------------------------------------------------------- Google's error bodies

interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details?: Json[] };
}

const statusNames: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function googleError(code: number, message: string, details?: Json[]): GoogleErrorBody {
  const error: GoogleErrorBody['error'] = { code, message, status: statusNames[code] ?? (code >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION') };
  if (details !== undefined) error.details = details;
  return { error };
}

/** The body Google sends for a status when a test does not supply one. */
export function defaultErrorBody(status: number): GoogleErrorBody {
  switch (status) {
    case 400: return googleError(400, 'Request contains an invalid argument.');
    case 401: return googleError(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.');
    case 403: return googleError(403, 'The caller does not have permission');
    case 404: return googleError(404, 'Requested entity was not found.');
    case 429: return googleError(429, 'Resource has been exhausted (e.g. check quota).');
    case 500: return googleError(500, 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting');
    case 503: return googleError(503, 'The model is overloaded. Please try again later.');
    case 504: return googleError(504, 'Deadline expired before operation could complete.');
    default: return googleError(status, status >= 500 ? 'Internal error encountered.' : 'Request contains an invalid argument.');
  }
}

function rateLimitBody(api: 'gemini' | 'vertex', model: string, retryDelay: string | undefined): GoogleErrorBody {
  if (api === 'vertex') {
    const details = retryDelay === undefined ? undefined : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay }];
    return googleError(429, 'Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.', details);
  }
  const details: Json[] = [
    {
      '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
      violations: [{
        quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
        quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
        quotaDimensions: { location: 'global', model },
        quotaValue: '10',
      }],
    },
    { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
  ];
  if (retryDelay !== undefined) details.push({ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay });
  const retryIn = retryDelay === undefined ? '' : `\nPlease retry in ${retryDelay}.`;
  return googleError(429, `You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: ${model}${retryIn}`, details);
}

const invalidKeyBody = googleError(400, 'API key not valid. Please pass a valid API key.', [
  { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
  { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
]);

const missingKeyBody = googleError(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");

function unauthenticatedBody(reason: 'CREDENTIALS_MISSING' | 'ACCESS_TOKEN_TYPE_UNSUPPORTED'): GoogleErrorBody {
  return googleError(401, defaultErrorBody(401).error.message, [
    { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com', metadata: { service: 'aiplatform.googleapis.com', method: 'google.cloud.aiplatform.v1.PredictionService.GenerateContent' } },
  ]);
}

// ---------------------------------------------------------------- request validation

// The fields of each message Google accepts; anything else is "Unknown name … Cannot find field".
// '*' is a leaf; 'X[]' a list of X; 'X{}' a map of X. Google also accepts snake_case names.
const messages: Record<string, Record<string, string>> = {
  GenerateContentRequest: { contents: 'Content[]', systemInstruction: 'Content', tools: 'Tool[]', toolConfig: 'ToolConfig', safetySettings: '*', generationConfig: 'GenerationConfig', cachedContent: '*', labels: '*' },
  Content: { role: '*', parts: 'Part[]' },
  Part: { text: '*', thought: '*', thoughtSignature: '*', inlineData: 'Blob', fileData: 'FileData', functionCall: 'FunctionCall', functionResponse: 'FunctionResponse', executableCode: '*', codeExecutionResult: '*', videoMetadata: '*' },
  Blob: { mimeType: '*', data: '*' },
  FileData: { mimeType: '*', fileUri: '*' },
  FunctionCall: { id: '*', name: '*', args: '*' },
  FunctionResponse: { id: '*', name: '*', response: '*' },
  Tool: { functionDeclarations: 'FunctionDeclaration[]', googleSearch: '*', googleSearchRetrieval: '*', codeExecution: '*', urlContext: '*' },
  FunctionDeclaration: { name: '*', description: '*', parameters: 'Schema', parametersJsonSchema: '*', response: 'Schema', responseJsonSchema: '*', behavior: '*' },
  Schema: {
    type: '*', format: '*', title: '*', description: '*', nullable: '*', enum: '*', maxItems: '*', minItems: '*', properties: 'Schema{}', required: '*',
    minProperties: '*', maxProperties: '*', minLength: '*', maxLength: '*', pattern: '*', example: '*', anyOf: 'Schema[]', propertyOrdering: '*',
    default: '*', items: 'Schema', minimum: '*', maximum: '*',
  },
  ToolConfig: { functionCallingConfig: 'FunctionCallingConfig', retrievalConfig: '*' },
  FunctionCallingConfig: { mode: '*', allowedFunctionNames: '*' },
  GenerationConfig: {
    stopSequences: '*', responseMimeType: '*', responseSchema: 'Schema', responseJsonSchema: '*', responseModalities: '*', candidateCount: '*',
    maxOutputTokens: '*', temperature: '*', topP: '*', topK: '*', seed: '*', presencePenalty: '*', frequencyPenalty: '*', responseLogprobs: '*',
    logprobs: '*', enableEnhancedCivicAnswers: '*', speechConfig: '*', thinkingConfig: '*', mediaResolution: '*',
  },
};

const camel = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function unknownField(value: unknown, type: string, path: string): string | undefined {
  if (type === '*') return undefined;
  if (type.endsWith('[]')) {
    if (!Array.isArray(value)) return unknownField(value, type.slice(0, -2), path);
    for (let i = 0; i < value.length; i++) {
      const err = unknownField(value[i], type.slice(0, -2), `${path}[${i}]`);
      if (err) return err;
    }
    return undefined;
  }
  if (type.endsWith('{}')) {
    if (!isJson(value)) return undefined;
    for (const [key, sub] of Object.entries(value)) {
      const err = unknownField(sub, type.slice(0, -2), `${path}.${key}`);
      if (err) return err;
    }
    return undefined;
  }
  if (!isJson(value)) return undefined;
  const fields = messages[type] ?? {};
  for (const [key, sub] of Object.entries(value)) {
    const fieldType = fields[camel(key)];
    if (fieldType === undefined) {
      const at = path === '' ? '' : ` at '${path}'`;
      return `Invalid JSON payload received. Unknown name "${key}"${at}: Cannot find field.`;
    }
    const err = unknownField(sub, fieldType, path === '' ? snake(camel(key)) : `${path}.${snake(camel(key))}`);
    if (err) return err;
  }
  return undefined;
}

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(value: Json, name: string): unknown {
  return value[name] ?? value[snake(name)];
}

/** Google's complaint about a request body, or undefined when it would be accepted. */
export function invalidRequest(body: unknown, api: 'gemini' | 'vertex'): GoogleErrorBody | undefined {
  if (!isJson(body)) return googleError(400, 'Invalid JSON payload received. Unexpected token.');
  const unknown = unknownField(body, 'GenerateContentRequest', '');
  if (unknown) {
    return googleError(400, unknown, [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ description: unknown }] }]);
  }
  const contents = field(body, 'contents');
  if (!Array.isArray(contents) || contents.length === 0) return googleError(400, '* GenerateContentRequest.contents: contents is not specified\n');
  for (let i = 0; i < contents.length; i++) {
    const content: unknown = contents[i];
    if (!isJson(content)) return googleError(400, `* GenerateContentRequest.contents[${i}]: must be an object\n`);
    const role = content.role;
    if ((api === 'vertex' && role === undefined) || (role !== undefined && role !== 'user' && role !== 'model')) {
      return googleError(400, 'Please use a valid role: user, model.');
    }
    const parts = content.parts;
    if (!Array.isArray(parts) || parts.length === 0) return googleError(400, `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.\n`);
  }
  const tools = field(body, 'tools');
  if (Array.isArray(tools)) {
    for (let t = 0; t < tools.length; t++) {
      const tool: unknown = tools[t];
      const declarations = isJson(tool) ? field(tool, 'functionDeclarations') : undefined;
      if (!Array.isArray(declarations)) continue;
      for (let d = 0; d < declarations.length; d++) {
        const declaration: unknown = declarations[d];
        const parameters = isJson(declaration) ? declaration.parameters : undefined;
        if (isJson(parameters) && String(parameters.type).toUpperCase() === 'OBJECT' && !(isJson(parameters.properties) && Object.keys(parameters.properties).length > 0)) {
          return googleError(400, `* GenerateContentRequest.tools[${t}].function_declarations[${d}].parameters.properties: should be non-empty for OBJECT type\n`);
        }
      }
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- content

function countWords(text: string): number {
  let n = 0;
  for (const _ of text.matchAll(/\S+/g)) n++;
  return n;
}

/** Whitespace stays attached to the word before it, so the pieces concatenate to the text exactly. */
export function splitTokens(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text === '' ? [] : [text]);
}

function partTexts(parts: unknown): string[] {
  if (!Array.isArray(parts)) return [];
  return parts.flatMap((p: unknown) => (isJson(p) && typeof p.text === 'string' ? [p.text] : []));
}

/** "Echo: " + the text of the last user turn. */
export function echoText(body: GenerateContentBody): string {
  for (let i = body.contents.length - 1; i >= 0; i--) {
    const content = body.contents[i];
    if ((content.role ?? 'user') === 'user') return 'Echo: ' + partTexts(content.parts).join('');
  }
  return 'Echo: ';
}

function promptTokens(body: GenerateContentBody): number {
  let n = 0;
  for (const content of body.contents) for (const text of partTexts(content.parts)) n += countWords(text);
  for (const text of partTexts(body.systemInstruction?.parts)) n += countWords(text);
  return Math.max(n, 1);
}

const blockingFinishReasons = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY']);

const safetyRatings = (blocked: boolean): Json[] => [
  { category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', probability: 'NEGLIGIBLE' },
  blocked ? { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'HIGH', blocked: true } : { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'NEGLIGIBLE' },
  { category: 'HARM_CATEGORY_HARASSMENT', probability: 'NEGLIGIBLE' },
  { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'NEGLIGIBLE' },
];

// ---------------------------------------------------------------- server

interface Route {
  api: 'gemini' | 'vertex';
  model: string;
  action: 'generateContent' | 'streamGenerateContent';
  project?: string;
  location?: string;
  /** `?alt=sse`: server-sent events instead of one streamed JSON array. */
  sse: boolean;
}

class Fake extends FakeServer<Fault, RecordedRequest> implements FakeGemini {
  reply: ReplyFn | undefined;

  private readonly validKeys: ReadonlySet<string> | undefined;
  private readonly validTokens: ReadonlySet<string> | undefined;
  private readonly models: readonly string[];

  constructor(opts: FakeGeminiOptions) {
    super(opts);
    this.validKeys = opts.validKeys === undefined ? undefined : new Set(opts.validKeys);
    this.validTokens = opts.validTokens === undefined ? undefined : new Set(opts.validTokens);
    this.reply = opts.reply;
    this.models = opts.models ?? ['gemini-2.5-flash', 'gemini-2.5-pro', 'gemini-2.0-flash'];
  }

  // -------------------------------------------------------------- request intake

  protected handle(req: IncomingMessage, res: ServerResponse, rawBody: Buffer, receivedAt: number): void {
    const { body, badJson } = parseJsonBody(rawBody);
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    const query = Object.fromEntries(url.searchParams);
    const route = method === 'POST' ? routeOf(path, query) : undefined;
    const auth = req.headers.authorization;
    const bearer = auth !== undefined && auth.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    const keyHeader = req.headers['x-goog-api-key'];
    const apiKey = (Array.isArray(keyHeader) ? keyHeader[0] : keyHeader) ?? query.key;
    const record: RecordedRequest = {
      method, path, query, headers: req.headers, api: route?.api, model: route?.model, action: route?.action,
      project: route?.project, location: route?.location, apiKey, bearer, body, receivedAt, fault: undefined,
    };

    const rejection = route ? this.authError(route.api, apiKey, bearer) ?? this.bodyError(route, body, badJson) : undefined;
    if (route && rejection === undefined) record.fault = this.takeFault();
    this.record(record);

    const start = Date.now();
    if (rejection !== undefined) return this.later(res, this.latencyMs, () => this.sendJson(res, rejection.error.code, rejection, start));
    if (route) return this.answer(route, req, res, record.fault, body as GenerateContentBody, start);
    if (method === 'GET' && /^\/(v1|v1beta)\/models$/.test(path)) return this.later(res, this.latencyMs, () => this.sendModels(res, start));
    this.later(res, this.latencyMs, () => this.sendJson(res, 404, googleError(404, `Method not found: ${method} ${path}`), start));
  }

  private authError(api: 'gemini' | 'vertex', apiKey: string | undefined, bearer: string | undefined): GoogleErrorBody | undefined {
    if (api === 'gemini') {
      if (apiKey === undefined || apiKey === '') return missingKeyBody;
      if (this.validKeys !== undefined && !this.validKeys.has(apiKey)) return invalidKeyBody;
      return undefined;
    }
    if (bearer === undefined || bearer === '') return unauthenticatedBody('CREDENTIALS_MISSING');
    if (this.validTokens !== undefined && !this.validTokens.has(bearer)) return unauthenticatedBody('ACCESS_TOKEN_TYPE_UNSUPPORTED');
    return undefined;
  }

  private bodyError(route: Route, body: unknown, badJson: boolean): GoogleErrorBody | undefined {
    if (badJson) return googleError(400, 'Invalid JSON payload received. Unexpected token.');
    return invalidRequest(body, route.api);
  }

  // -------------------------------------------------------------- faults and timing

  private answer(route: Route, req: IncomingMessage, res: ServerResponse, fault: Fault | undefined, body: GenerateContentBody, start: number): void {
    const delay = fault?.kind === 'slow-first-byte' ? fault.ms : this.latencyMs;
    switch (fault?.kind) {
      case 'reset':
        return this.later(res, delay, () => req.socket.destroy());
      case 'status': {
        const errBody = fault.body ?? defaultErrorBody(fault.status);
        return this.later(res, delay, () => this.sendJson(res, fault.status, errBody, start, fault.headers));
      }
      case 'rate-limit':
        return this.later(res, delay, () => this.sendJson(res, 429, rateLimitBody(route.api, route.model, fault.retryDelay), start));
      default:
        return this.later(res, delay, () => this.generate(route, res, fault, body, start));
    }
  }

  // -------------------------------------------------------------- responses

  private headers(start: number, contentType: string): Record<string, string> {
    return {
      'content-type': contentType,
      vary: 'Origin, X-Origin, Referer',
      server: 'scaffolding on HTTPServer2',
      'x-xss-protection': '0',
      'x-frame-options': 'SAMEORIGIN',
      'x-content-type-options': 'nosniff',
      'server-timing': `gfet4t7; dur=${Date.now() - start}`,
      'alt-svc': 'h3=":443"; ma=2592000,h3-29=":443"; ma=2592000',
    };
  }

  private sendJson(res: ServerResponse, status: number, body: unknown, start: number, extra?: Record<string, string>): void {
    const payload = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
    res.writeHead(status, { ...this.headers(start, 'application/json; charset=UTF-8'), ...extra });
    res.end(payload);
  }

  private sendModels(res: ServerResponse, start: number): void {
    const models = this.models.map((name) => ({
      name: `models/${name}`,
      version: '001',
      displayName: name,
      inputTokenLimit: 1_048_576,
      outputTokenLimit: 65_536,
      supportedGenerationMethods: ['generateContent', 'countTokens'],
    }));
    this.sendJson(res, 200, { models }, start);
  }

  /** The GenerateContentResponse objects of one answer: one per text piece, the last carrying finishReason and full usage. */
  private responses(route: Route, body: GenerateContentBody, streamed: boolean): Json[] {
    const reply = this.reply?.(body, route.model) ?? {};
    const calls = reply.functionCalls ?? [];
    const finishReason = reply.finishReason ?? 'STOP';
    const blocked = blockingFinishReasons.has(finishReason);
    const text = reply.text ?? (calls.length > 0 || blocked || reply.blockReason !== undefined ? undefined : echoText(body));
    const prompt = promptTokens(body);
    const candidatesTokens = (text === undefined ? 0 : splitTokens(text).length) + calls.reduce((n, c) => n + countWords(JSON.stringify(c.args)) + 1, 0);
    const candidateCount = typeof body.generationConfig?.candidateCount === 'number' ? body.generationConfig.candidateCount : 1;
    const responseId = randomBytes(12).toString('base64url');
    const createTime = new Date().toISOString();
    const vertex = route.api === 'vertex';

    const usage = (final: boolean): Json => {
      const thoughts = final ? reply.thoughtsTokenCount ?? 0 : 0;
      const completion = final ? candidatesTokens * candidateCount : 0;
      const out: Json = { promptTokenCount: prompt };
      if (final) out.candidatesTokenCount = completion;
      out.totalTokenCount = prompt + completion + thoughts;
      if (reply.cachedContentTokenCount !== undefined) out.cachedContentTokenCount = reply.cachedContentTokenCount;
      if (vertex) out.trafficType = 'ON_DEMAND';
      out.promptTokensDetails = [{ modality: 'TEXT', tokenCount: prompt }];
      if (final && vertex) out.candidatesTokensDetails = [{ modality: 'TEXT', tokenCount: completion }];
      if (thoughts > 0) out.thoughtsTokenCount = thoughts;
      return out;
    };
    const envelope = (fields: Json, final: boolean): Json => {
      const out: Json = { ...fields, usageMetadata: usage(final), modelVersion: route.model };
      if (vertex) out.createTime = createTime;
      out.responseId = responseId;
      return out;
    };
    // Vertex leaves the index out of streamed candidates; the Gemini API always sends it.
    const candidates = (content: Json | undefined, finish: string | undefined): Json[] =>
      Array.from({ length: candidateCount }, (_, index) => {
        const c: Json = {};
        if (content !== undefined) c.content = content;
        if (finish !== undefined) c.finishReason = finish;
        if (finish !== undefined && blockingFinishReasons.has(finish)) c.safetyRatings = safetyRatings(true);
        if (!(vertex && streamed)) c.index = index;
        return c;
      });

    if (reply.blockReason !== undefined) {
      return [envelope({ promptFeedback: { blockReason: reply.blockReason, safetyRatings: safetyRatings(true) } }, true)];
    }
    const pieces = text === undefined ? [] : streamed && text !== '' ? splitTokens(text) : [text];
    const callParts: Json[] = calls.map((c, i) => {
      const part: Json = { functionCall: { name: c.name, args: c.args } };
      if (i === 0 && reply.thoughtSignature !== undefined) part.thoughtSignature = reply.thoughtSignature;
      return part;
    });
    const out: Json[] = [];
    if (!streamed) {
      const parts = [...pieces.map((t) => ({ text: t })), ...callParts];
      out.push(envelope({ candidates: candidates(blocked ? undefined : { parts, role: 'model' }, finishReason) }, true));
      return out;
    }
    pieces.forEach((piece, i) => {
      const last = i === pieces.length - 1 && callParts.length === 0 && !blocked;
      out.push(envelope({ candidates: candidates({ parts: [{ text: piece }], role: 'model' }, last ? finishReason : undefined) }, last));
    });
    if (callParts.length > 0) out.push(envelope({ candidates: candidates({ parts: callParts, role: 'model' }, blocked ? undefined : finishReason) }, !blocked));
    if (blocked) out.push(envelope({ candidates: candidates(undefined, finishReason) }, true));
    return out;
  }

  private generate(route: Route, res: ServerResponse, fault: Fault | undefined, body: GenerateContentBody, start: number): void {
    const streamFault = fault !== undefined && (fault.kind === 'stall' || fault.kind === 'disconnect' || fault.kind === 'truncate' || fault.kind === 'in-band-error') ? fault : undefined;
    const inBand = googleError(500, streamFault?.kind === 'in-band-error' && streamFault.message !== undefined ? streamFault.message : defaultErrorBody(500).error.message);

    if (route.action === 'generateContent') {
      if (streamFault?.kind === 'stall') return;
      if (streamFault?.kind === 'disconnect' || streamFault?.kind === 'truncate') {
        res.writeHead(200, { ...this.headers(start, 'application/json; charset=UTF-8'), 'content-length': '4096' });
        res.write('{\n  "candidates": [\n', () => res.destroy());
        return;
      }
      if (streamFault?.kind === 'in-band-error') return this.sendJson(res, 500, inBand, start);
      const [response] = this.responses(route, body, false);
      return this.sendJson(res, 200, response, start);
    }

    // Without alt=sse Google streams one JSON array; with it, one `data:` event per response.
    const sse = route.sse;
    const responses = this.responses(route, body, true);
    const events = sse
      ? responses.map((r) => `data: ${JSON.stringify(r)}\r\n\r\n`)
      : responses.map((r, i) => `${i === 0 ? '[' : ',\r\n'}${JSON.stringify(r, null, 2)}${i === responses.length - 1 ? ']' : ''}`);

    // finish() writes whatever is still unsent, then ends the stream the way the fault says.
    let stopAt = events.length;
    let finish = (rest: string): void => void res.end(rest);
    if (streamFault !== undefined) {
      // The last event carries the finishReason, so a fault always lands before it.
      stopAt = Math.min(Math.max(streamFault.afterChunks, 0), events.length - 1);
      if (streamFault.kind === 'stall') finish = (rest) => void (rest === '' || res.write(rest));
      else if (streamFault.kind === 'disconnect') finish = (rest) => void (rest === '' ? res.destroy() : res.write(rest, () => res.destroy()));
      else if (streamFault.kind === 'truncate') finish = (rest) => void res.end(rest);
      else finish = (rest) => void res.end(rest + (sse ? `data: ${JSON.stringify(inBand)}\r\n\r\n` : `${stopAt === 0 ? '[' : ',\r\n'}${JSON.stringify(inBand)}]`));
    }

    const headers = sse ? { ...this.headers(start, 'text/event-stream'), 'content-disposition': 'attachment' } : this.headers(start, 'application/json; charset=UTF-8');
    res.writeHead(200, headers);
    this.writePaced(res, events, stopAt, (rest) => finish(rest.join('')));
  }
}

function routeOf(path: string, query: Record<string, string>): Route | undefined {
  const sse = query.alt === 'sse';
  const gemini = GEMINI_PATH.exec(path);
  if (gemini) return { api: 'gemini', model: decodeURIComponent(gemini[2]), action: gemini[3] as Route['action'], sse };
  const vertex = VERTEX_PATH.exec(path);
  if (vertex) return { api: 'vertex', project: decodeURIComponent(vertex[2]), location: vertex[3], model: decodeURIComponent(vertex[4]), action: vertex[5] as Route['action'], sse };
  return undefined;
}

export async function startFakeGemini(opts: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const fake = new Fake(opts);
  fake.url = await listenLocal(fake.server, opts.port);
  return fake;
}

if (import.meta.main) await runStandalone('FAKE_GEMINI_URL', (opts) => startFakeGemini(opts));
