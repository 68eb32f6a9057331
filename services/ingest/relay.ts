// Delivers a request's live events to the HTTP client that waits for them: one JSON answer for a
// synchronous request, SSE for a stream, in the shapes of the client's API surface (its dialect).
// A failure after the first token ends the stream with an explicit error event, never a
// clean-looking end. A stream's headers wait for its first event, which names the target that
// produced the first token; a later mid-stream failover cannot change them.
import type { ServerResponse } from 'node:http';
import type { Answering, LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';
import type { OpenAIError } from '#libs/contracts/openai-error.ts';
import { failureOf, type Dialect, type StreamWriter } from './dialect.ts';

export interface Waiter {
  onEvent(event: LiveEvent): void;
  /** Called when the deadline passes with no terminal event. */
  onDeadline(): void;
}

export function answerHeaders(requestId: string, result: ResultEnvelope): Record<string, string> {
  const headers: Record<string, string> = { 'x-request-id': requestId, 'x-spillway-attempts': String(result.attempts.length) };
  if (result.provider) headers['x-spillway-provider'] = result.provider;
  if (result.model) headers['x-spillway-model'] = result.model;
  return { ...headers, ...(result.errorHeaders ?? {}) };
}

/** A stream's headers naming the target that produced its first token (the worker says so on its first delta). */
export function streamingHeaders(answering: Answering): Record<string, string> {
  return { 'x-spillway-provider': answering.provider, 'x-spillway-model': answering.model, 'x-spillway-attempts': String(answering.attempts) };
}

/** Waits for the terminal event of a synchronous request. */
export class SyncWaiter implements Waiter {
  readonly done: Promise<ResultEnvelope | 'deadline'>;
  private resolve: (value: ResultEnvelope | 'deadline') => void = () => undefined;

  constructor() {
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }

  onEvent(event: LiveEvent): void {
    if (event.type !== 'delta') this.resolve(event.data);
  }

  onDeadline(): void {
    this.resolve('deadline');
  }
}

const deadlineError: OpenAIError = { message: 'The request did not complete before its deadline.', type: 'timeout_error', param: null, code: 'deadline_exceeded' };

/** Writes a stream's events to the raw response as the dialect frames them. */
export class StreamWaiter implements Waiter {
  private readonly res: ServerResponse;
  private readonly requestId: string;
  private readonly dialect: Dialect;
  private readonly writer: StreamWriter;
  private readonly onEnd: (status: number) => void;
  private readonly catchUp: () => Promise<void>;
  private lastSeq = 0;
  private ended = false;
  /** Who is answering, as the deltas so far said: the headers name it. */
  private answering: Answering | undefined;
  /** Deltas that came before the ones ahead of them (a live event can overtake a catch-up). */
  private readonly early = new Map<number, Extract<LiveEvent, { type: 'delta' }>>();
  /** A terminal event that came while deltas before it are still missing. */
  private held: Extract<LiveEvent, { type: 'done' | 'error' }> | undefined;
  private catchingUp = false;

  /**
   * `after`: the last sequence number the client already has (a resumed stream); events up to it
   * are skipped. `catchUp` re-reads the stored events when a gap shows: they are written in
   * order, never with a hole, and a hole nothing can fill ends the stream with an explicit error.
   */
  constructor(res: ServerResponse, requestId: string, dialect: Dialect, onEnd: (status: number) => void, catchUp: () => Promise<void>, after = 0) {
    this.res = res;
    this.requestId = requestId;
    this.dialect = dialect;
    this.writer = dialect.stream();
    this.onEnd = onEnd;
    this.catchUp = catchUp;
    this.lastSeq = after;
  }

  /** Reads the stored events once per gap; a terminal still waiting on a hole after that ends the stream. */
  private fillGap(): void {
    if (this.catchingUp) return;
    this.catchingUp = true;
    this.catchUp()
      .catch(() => undefined)
      .finally(() => {
        this.catchingUp = false;
        if (this.held && !this.ended) this.interrupted(this.held);
      });
  }

  private interrupted(terminal: Extract<LiveEvent, { type: 'done' | 'error' }>): void {
    const error: OpenAIError = {
      message: `Part of this stream was lost in transit. The whole answer is at GET /v1/requests/${this.requestId}; GET /v1/requests/${this.requestId}/stream?after=<chunks received> resumes after the last chunk received.`,
      type: 'server_error',
      param: null,
      code: 'stream_interrupted',
    };
    this.held = undefined;
    this.start(terminal.data);
    this.finish(this.writer.error(502, error, this.lastSeq + 1), 502);
  }

  private write(event: Extract<LiveEvent, { type: 'delta' }>): void {
    this.lastSeq = event.seq;
    this.answering = event.answering ?? this.answering;
    const frame = this.writer.chunk(event.data, event.seq);
    if (frame === '') return;
    this.start();
    this.res.write(frame);
  }

  private start(result?: ResultEnvelope): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': this.requestId,
      ...(this.answering ? streamingHeaders(this.answering) : {}),
      ...(result ? answerHeaders(this.requestId, result) : {}),
    });
  }

  onEvent(event: LiveEvent): void {
    if (this.ended) return;
    if (event.type === 'delta') {
      if (event.seq <= this.lastSeq) return;
      if (event.seq > this.lastSeq + 1) {
        this.early.set(event.seq, event);
        this.fillGap();
        return;
      }
      this.write(event);
      for (let next = this.early.get(this.lastSeq + 1); next; next = this.early.get(this.lastSeq + 1)) {
        this.early.delete(next.seq);
        this.write(next);
      }
      const held = this.held;
      this.held = undefined;
      if (held) this.onEvent(held);
      return;
    }
    // A terminal event read back from the store does not say how many deltas came before it.
    const complete = event.seq === Number.MAX_SAFE_INTEGER ? this.early.size === 0 : this.lastSeq >= event.seq - 1;
    if (!complete && this.lastSeq > 0) {
      if (this.held) return this.interrupted(this.held);
      this.held = event;
      this.fillGap();
      return;
    }
    const result = event.data;
    // A terminal event read back from the store carries no real sequence number.
    const seq = event.seq === Number.MAX_SAFE_INTEGER ? undefined : event.seq;
    if (result.status === 'succeeded') {
      this.start(result);
      // Nothing streamed and nothing resumed: a request that was not streamed, read as a stream.
      const whole = this.lastSeq === 0 ? (this.writer.whole?.(result, seq ?? 1) ?? '') : '';
      this.finish(whole + this.writer.done(result, seq ?? this.lastSeq + 1), 200);
    } else if (!this.res.headersSent) {
      this.fail(result.httpStatus, answerHeaders(this.requestId, result), this.dialect.error(result.httpStatus, failureOf(result)));
    } else {
      this.finish(this.writer.error(result.httpStatus, failureOf(result), seq ?? this.lastSeq + 1), result.httpStatus);
    }
  }

  onDeadline(): void {
    if (this.ended) return;
    if (!this.res.headersSent) this.fail(504, { 'x-request-id': this.requestId }, this.dialect.error(504, deadlineError));
    else this.finish(this.writer.error(504, deadlineError), 504);
  }

  private fail(status: number, headers: Record<string, string>, body: unknown): void {
    this.res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    this.finish(JSON.stringify(body), status);
  }

  private finish(last: string, status: number): void {
    this.ended = true;
    this.res.end(last);
    this.onEnd(status);
  }
}
