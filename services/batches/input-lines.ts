// Checks a batch input file line by line, as OpenAI does before it runs anything: every line a
// JSON object with a unique string `custom_id`, `method` POST, `url` the batch's endpoint, and a
// `body` valid for that endpoint whose model the gateway can route. Blank lines are skipped.
import { chatRequestSchema } from '#libs/contracts/chat.ts';
import { embeddingsRequestSchema } from '#libs/contracts/embeddings.ts';
import type { BatchEndpoint, BatchError } from '#libs/contracts/batch.ts';
import type { RequestEnvelope } from '#libs/contracts/envelope.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import type { ProviderRegistry } from '#libs/providers/registry.ts';
import { parseOrThrow } from '#services/ingest/validate.ts';

export interface BatchRequestLine {
  customId: string;
  request: Pick<RequestEnvelope, 'operation' | 'body'>;
}

/** Stops collecting past this many errors: the first ones say enough. */
export const maxReportedErrors = 100;

/** Why a body's model cannot be routed by this registry, or undefined when it can. */
export function routeProblemFor(registry: ProviderRegistry): (body: { model: string; fallbacks?: string[] | undefined }) => string | undefined {
  return (body) => {
    const chain = registry.chain({ model: body.model, fallbacks: body.fallbacks, noFallback: false });
    if (chain.main.length === 0) return `The model \`${body.model}\` does not exist or no configured provider serves it.`;
    const unknown = (body.fallbacks ?? []).find((name) => chain.unresolved.includes(name));
    return unknown === undefined ? undefined : `No alias or configured provider serves the fallback \`${unknown}\`.`;
  };
}

/** One non-blank line of an input file. */
export interface InputLine {
  /** 1-based, blank lines counted. */
  number: number;
  text: string;
  /** The byte just past it and its line break: where the next line starts. */
  end: number;
}

/**
 * The non-blank lines of a file's bytes, read from `from` (a line start: the lines before it and
 * its byte offset), without holding more than one chunk and one line in memory.
 */
export async function* inputLines(content: AsyncIterable<Buffer>, from: { line: number; offset: number }): AsyncGenerator<InputLine> {
  let number = from.line;
  let offset = from.offset;
  let pending: Buffer = Buffer.alloc(0);
  const take = (bytes: Buffer): InputLine | undefined => {
    number++;
    offset += bytes.length;
    let text = bytes.toString('utf8').replace(/\r?\n?$/, '');
    if (number === 1) text = text.replace(/^\uFEFF/, '');
    return text.trim() === '' ? undefined : { number, text, end: offset };
  };
  for await (const chunk of content) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    for (let nl = pending.indexOf(0x0a); nl !== -1; nl = pending.indexOf(0x0a, start)) {
      const line = take(pending.subarray(start, nl + 1));
      start = nl + 1;
      if (line) yield line;
    }
    pending = pending.subarray(start);
  }
  if (pending.length > 0) {
    const line = take(pending);
    if (line) yield line;
  }
}

/**
 * Checks every line of an input file: how many requests it holds, or every problem found (up to
 * maxReportedErrors). `routeProblem` says why a body's model cannot be routed, or undefined when it can.
 */
export async function checkInputFile(
  lines: AsyncIterable<InputLine>,
  endpoint: BatchEndpoint,
  routeProblem: (body: { model: string; fallbacks?: string[] | undefined }) => string | undefined,
  maxRequests: number,
): Promise<{ requests: number; errors: BatchError[] }> {
  let requests = 0;
  const errors: BatchError[] = [];
  const seen = new Set<string>();
  for await (const line of lines) {
    if (errors.length >= maxReportedErrors) break;
    const checked = checkInputLine(line.text, line.number, endpoint, seen, routeProblem);
    if ('error' in checked) errors.push(checked.error);
    else requests++;
  }
  if (errors.length === 0 && requests === 0) errors.push({ code: 'empty_file', message: 'The input file has no requests: it needs one JSON object per line.', line: null, param: null });
  if (requests > maxRequests) {
    errors.push({ code: 'too_many_requests', message: `The input file has ${requests} requests; a batch takes at most ${maxRequests}.`, line: null, param: null });
  }
  return { requests, errors };
}

export function checkInputLine(
  text: string,
  line: number,
  endpoint: BatchEndpoint,
  seen: Set<string>,
  routeProblem: (body: { model: string; fallbacks?: string[] | undefined }) => string | undefined,
): BatchRequestLine | { error: BatchError } {
  const fail = (code: string, message: string, param: string | null = null) => ({ error: { code, message, line, param } });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('invalid_json_line', `This line is not valid JSON.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('invalid_json_line', 'This line is not a JSON object.');
  const { custom_id: customId, method, url, body } = value as Record<string, unknown>;
  if (customId === undefined) return fail('missing_required_parameter', "Missing required parameter: 'custom_id'.", 'custom_id');
  if (typeof customId !== 'string' || customId === '') return fail('invalid_value', "Invalid value for 'custom_id': expected a non-empty string.", 'custom_id');
  if (seen.has(customId)) return fail('duplicate_custom_id', `The custom_id '${customId}' is used by an earlier line; each must be unique within the file.`, 'custom_id');
  seen.add(customId);
  if (method !== 'POST') return fail('invalid_method', `Invalid value for 'method': expected 'POST'.`, 'method');
  if (url !== endpoint) return fail('invalid_url', `Invalid value for 'url': this batch's endpoint is '${endpoint}'; every line must name it.`, 'url');
  let request: BatchRequestLine['request'];
  try {
    if (endpoint === '/v1/chat/completions') {
      const chat = parseOrThrow(chatRequestSchema, body);
      // A batch request is answered as one whole completion.
      delete chat.stream;
      delete chat.stream_options;
      request = { operation: 'chat', body: chat };
    } else {
      request = { operation: 'embeddings', body: parseOrThrow(embeddingsRequestSchema, body) };
    }
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    const param = err.body.param === null ? 'body' : `body.${err.body.param}`;
    return fail(err.body.code ?? 'invalid_request', err.body.message, param);
  }
  const problem = routeProblem(request.body);
  if (problem !== undefined) return fail('model_not_found', problem, 'body.model');
  return { customId, request };
}
