// What every provider adapter offers the worker: one call in the canonical (OpenAI) shape, as a
// whole response or as a stream of chunks, failing with an UpstreamError that says what happened.
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import type { EmbeddingsRequest, EmbeddingsResponse } from '#libs/contracts/embeddings.ts';

export interface CallOptions {
  /** Aborts the call: the attempt's total timeout, the request's deadline, or a lost hedge race. */
  signal: AbortSignal;
  /** Model name as the provider knows it (without the provider prefix). */
  model: string;
  /** The key routing chose for this call; absent for providers that need none. */
  key?: { id: string; secret: string };
  /**
   * Connection set-up, time to the response headers, and the longest silence between body chunks.
   * For a stream the worker passes an idleMs of at least firstByteMs and bounds the wait for the
   * first token and the silences after it itself (services/worker/stream-clock.ts).
   */
  timeouts: { connectMs: number; firstByteMs: number; idleMs: number };
}

export interface CallResult<T> {
  value: T;
  keyId?: string;
}

export interface StreamCall {
  keyId?: string;
  chunks: AsyncIterable<ChatChunk>;
}

export interface ProviderAdapter {
  readonly name: string;
  readonly type: string;
  /** True when a bare model name should resolve to this provider. */
  serves(model: string): boolean;
  /** Models to list at /v1/models (exact names only). */
  listModels(): string[];
  complete(body: ChatRequest, opts: CallOptions): Promise<CallResult<ChatCompletion>>;
  stream(body: ChatRequest, opts: CallOptions): Promise<StreamCall>;
  /** Embeddings, for providers that offer them; a target whose adapter has none fails as a caller fault. */
  embed?(body: EmbeddingsRequest, opts: CallOptions): Promise<CallResult<EmbeddingsResponse>>;
  close(): Promise<void>;
}

export type UpstreamPhase = 'connect' | 'first_byte' | 'idle' | 'response' | 'stream';

/** An upstream failure as observed; classification into a failure class happens in routing. */
export class UpstreamError extends Error {
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly phase: UpstreamPhase;
  readonly body: unknown;
  readonly headers: Record<string, string>;
  readonly keyId: string | undefined;

  constructor(
    message: string,
    opts: { status?: number; code?: string; phase: UpstreamPhase; body?: unknown; headers?: Record<string, string>; keyId?: string },
  ) {
    super(message);
    this.status = opts.status;
    this.code = opts.code;
    this.phase = opts.phase;
    this.body = opts.body;
    this.headers = opts.headers ?? {};
    this.keyId = opts.keyId;
  }
}
