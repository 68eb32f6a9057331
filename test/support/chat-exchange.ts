// One chat completion as a failover test sees it: the client's side (status, headers, body, or the
// SSE stream event by event and how it ended) and the stored result's side (every attempt).
import { z } from 'zod';
import { attemptSchema, type Attempt } from '#libs/contracts/envelope.ts';

export interface ChatCall {
  model: string;
  content?: string;
  messages?: { role: string; content: string }[];
  /** Per-request fallbacks (the body's `fallbacks`). */
  fallbacks?: string[];
  headers?: Record<string, string>;
  /** The client gives up after this long, so a hung request fails the test instead of hanging it. */
  clientTimeoutMs?: number;
}

export interface ChatAnswer {
  status: number;
  headers: Headers;
  body: unknown;
  requestId: string;
  /** choices[0].message.content of a completion. */
  content: string | undefined;
  error: { message: string; type: string; code: string | null } | undefined;
}

const errorBodySchema = z.object({ error: z.object({ message: z.string(), type: z.string(), code: z.string().nullable() }) });
const completionSchema = z.object({ choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1) });

function requestBody(call: ChatCall, stream: boolean): string {
  return JSON.stringify({
    model: call.model,
    messages: call.messages ?? [{ role: 'user', content: call.content ?? 'hello' }],
    ...(call.fallbacks ? { fallbacks: call.fallbacks } : {}),
    ...(stream ? { stream: true } : {}),
  });
}

function post(url: string, call: ChatCall, stream: boolean): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(call.headers ?? {}) },
    body: requestBody(call, stream),
    signal: AbortSignal.timeout(call.clientTimeoutMs ?? 30_000),
  });
}

export async function chat(url: string, call: ChatCall): Promise<ChatAnswer> {
  const res = await post(url, call, false);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Kept as text: an assertion on it shows what came.
  }
  const completion = completionSchema.safeParse(body);
  const error = errorBodySchema.safeParse(body);
  return {
    status: res.status,
    headers: res.headers,
    body,
    requestId: res.headers.get('x-request-id') ?? '',
    content: completion.success ? (completion.data.choices[0]?.message.content ?? undefined) : undefined,
    error: error.success ? error.data.error : undefined,
  };
}

const chunkSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion.chunk'),
  choices: z.array(z.object({ delta: z.object({ role: z.string().optional(), content: z.string().nullish() }), finish_reason: z.string().nullish() })),
});
export type StreamChunk = z.infer<typeof chunkSchema>;

export interface StreamAnswer {
  status: number;
  headers: Headers;
  requestId: string;
  /** The `data:` payloads in order, [DONE] included, as sent. */
  data: string[];
  chunks: StreamChunk[];
  /** Every delta's content, concatenated. */
  text: string;
  /** `data: [DONE]` events seen. */
  doneCount: number;
  /** Error events (`data: {"error": …}`). */
  errors: unknown[];
  /** The body of a stream refused before it started (status ≠ 200). */
  refusal: unknown;
}

/** Reads a whole stream; a test asserts on how it ended. */
export async function chatStream(url: string, call: ChatCall): Promise<StreamAnswer> {
  const res = await post(url, call, true);
  const answer: StreamAnswer = {
    status: res.status,
    headers: res.headers,
    requestId: res.headers.get('x-request-id') ?? '',
    data: [],
    chunks: [],
    text: '',
    doneCount: 0,
    errors: [],
    refusal: undefined,
  };
  const raw = await res.text();
  if (res.status !== 200) {
    answer.refusal = JSON.parse(raw);
    return answer;
  }
  for (const frame of raw.split('\n\n')) {
    for (const line of frame.split('\n')) {
      if (!line.startsWith('data: ')) continue;
      const data = line.slice(6);
      answer.data.push(data);
      if (data === '[DONE]') {
        answer.doneCount++;
        continue;
      }
      const parsed: unknown = JSON.parse(data);
      if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
        answer.errors.push(parsed.error);
        continue;
      }
      const chunk = chunkSchema.parse(parsed);
      answer.chunks.push(chunk);
      for (const choice of chunk.choices) answer.text += choice.delta.content ?? '';
    }
  }
  return answer;
}

const requestViewSchema = z.object({
  id: z.string(),
  status: z.enum(['queued', 'in_progress', 'completed', 'failed']),
  http_status: z.number().optional(),
  provider: z.string().nullish(),
  model: z.string().nullish(),
  response: z.unknown(),
  error: z.object({ message: z.string(), code: z.string().nullable() }).nullish(),
  attempts: z.array(attemptSchema).default([]),
});
export type RequestView = z.infer<typeof requestViewSchema>;

/** GET /v1/requests/{id}: the stored result with every attempt. */
export async function storedResult(url: string, requestId: string): Promise<RequestView> {
  const res = await fetch(`${url}/v1/requests/${requestId}`);
  const body: unknown = await res.json();
  if (res.status !== 200) throw new Error(`GET /v1/requests/${requestId} answered ${res.status}: ${JSON.stringify(body)}`);
  return requestViewSchema.parse(body);
}

/** What a test compares attempts on: the target, the failure class (absent for success) and the status. */
export function attemptSummary(attempts: readonly Attempt[]): { target: string; failure?: string; status?: number }[] {
  return attempts.map((a) => ({
    target: `${a.provider}/${a.model}`,
    ...(a.failure === undefined ? {} : { failure: a.failure }),
    ...(a.status === undefined ? {} : { status: a.status }),
  }));
}
