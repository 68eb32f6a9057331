// How one API surface speaks: the body of a finished answer, the shape of an error, and the
// framing of a stream. The OpenAI surface is the canonical one; the Anthropic surface renders
// the same results in Anthropic's shapes (services/ingest/anthropic/dialect.ts).
import type { LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';
import { errorBody, type OpenAIError } from '#libs/contracts/openai-error.ts';

export interface StreamWriter {
  /** What one canonical chunk becomes on the wire ('' for nothing). */
  chunk(data: Extract<LiveEvent, { type: 'delta' }>['data']): string;
  /** The end of a stream that succeeded. */
  done(result: ResultEnvelope): string;
  /** The end of a stream that failed after it began. */
  error(status: number, error: OpenAIError): string;
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

/** OpenAI's shapes: the canonical response as is, `{error}` bodies, `data:` frames and `[DONE]`. */
export const openAIDialect: Dialect = {
  answer: (result) => ({ status: result.httpStatus, body: result.status === 'succeeded' ? result.response : errorBody(failureOf(result)) }),
  error: (_status, error) => errorBody(error),
  stream: () => ({
    chunk: (data) => `data: ${JSON.stringify(data)}\n\n`,
    done: () => 'data: [DONE]\n\n',
    error: (_status, error) => `data: ${JSON.stringify(errorBody(error))}\n\n`,
  }),
};
