// How one API surface speaks: the body of a finished answer, the shape of an error, and the
// framing of a stream. The OpenAI surface is the canonical one; the Anthropic surface renders
// the same results in Anthropic's shapes (services/ingest/anthropic/dialect.ts).
import type { LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';
import { chatCompletionSchema, type ChatCompletion } from '#libs/contracts/chat.ts';
import { errorBody, type OpenAIError } from '#libs/contracts/openai-error.ts';

export interface StreamWriter {
  /** What one canonical chunk (sequence number `seq`) becomes on the wire ('' for nothing). */
  chunk(data: Extract<LiveEvent, { type: 'delta' }>['data'], seq: number): string;
  /** The end of a stream that succeeded. */
  done(result: ResultEnvelope, seq: number): string;
  /** The end of a stream that failed after it began; `seq` is undefined for a deadline the gateway called. */
  error(status: number, error: OpenAIError, seq?: number): string;
  /** A request that was not streamed (sync or async), read as a stream: its whole answer as chunks. */
  whole?(result: ResultEnvelope, seq: number): string;
}

export interface Dialect {
  /** Status and body of a finished answer, succeeded or failed. */
  answer(result: ResultEnvelope): { status: number; body: unknown };
  /** An error answered before anything else was written. */
  error(status: number, error: OpenAIError): unknown;
  /** A writer for one stream. */
  stream(): StreamWriter;
}

export function failureOf(result: ResultEnvelope): OpenAIError {
  return result.error ?? { message: 'The request failed.', type: 'server_error', param: null, code: null };
}

/** An SSE event; with `seq`, an `id:` line first: the sequence number `Last-Event-ID` resumes after. */
const sse = (data: string, seq?: number): string => `${seq === undefined ? '' : `id: ${seq}\n`}data: ${data}\n\n`;

/**
 * OpenAI's shapes: the canonical response as is, `{error}` bodies, `data:` frames and `[DONE]`.
 * `eventIds` adds each event's sequence number as its `id:`, which OpenAI's own stream never has.
 */
function openAI(eventIds: boolean): Dialect {
  const frame = (data: string, seq?: number): string => sse(data, eventIds ? seq : undefined);
  return {
    answer: (result) => ({ status: result.httpStatus, body: result.status === 'succeeded' ? result.response : errorBody(failureOf(result)) }),
    error: (_status, error) => errorBody(error),
    stream: () => ({
      chunk: (data, seq) => frame(JSON.stringify(data), seq),
      done: (_result, seq) => frame('[DONE]', seq),
      error: (_status, error, seq) => frame(JSON.stringify(errorBody(error)), seq),
      whole: (result, seq) => {
        const completion = chatCompletionSchema.safeParse(result.response);
        return completion.success ? frame(JSON.stringify(completionAsChunk(completion.data)), seq) : '';
      },
    }),
  };
}

/** Byte for byte what OpenAI streams: `data: {chunk}\n\n` … `data: [DONE]\n\n`. */
export const openAIDialect: Dialect = openAI(false);

/**
 * The same with `id: <seq>` on every event: the resume endpoint's framing (what EventSource
 * reconnects with), and the POST stream's when the client asks for it (`x-spillway-stream-ids`).
 */
export const openAIDialectWithIds: Dialect = openAI(true);

/** A whole completion as the one chunk that carries all of it. */
function completionAsChunk(completion: ChatCompletion): Record<string, unknown> {
  const { object: _object, choices, ...rest } = completion;
  return {
    ...rest,
    object: 'chat.completion.chunk',
    choices: choices.map(({ message, ...choice }) => ({ ...choice, delta: message })),
  };
}
