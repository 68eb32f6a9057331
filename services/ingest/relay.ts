// Delivers a request's live events to the HTTP client that waits for them: one JSON answer for a
// synchronous request, SSE for a stream, in the shapes of the client's API surface (its dialect).
// A failure after the first token ends the stream with an explicit error event, never a
// clean-looking end.
import type { ServerResponse } from 'node:http';
import type { LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';
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
  private lastSeq = 0;
  private ended = false;

  /** `after`: the last sequence number the client already has (a resumed stream); events up to it are skipped. */
  constructor(res: ServerResponse, requestId: string, dialect: Dialect, onEnd: (status: number) => void, after = 0) {
    this.res = res;
    this.requestId = requestId;
    this.dialect = dialect;
    this.writer = dialect.stream();
    this.onEnd = onEnd;
    this.lastSeq = after;
  }

  private start(result?: ResultEnvelope): void {
    if (this.res.headersSent) return;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': this.requestId,
      ...(result ? answerHeaders(this.requestId, result) : {}),
    });
  }

  onEvent(event: LiveEvent): void {
    if (this.ended) return;
    if (event.type === 'delta') {
      if (event.seq <= this.lastSeq) return;
      this.lastSeq = event.seq;
      const frame = this.writer.chunk(event.data, event.seq);
      if (frame === '') return;
      this.start();
      this.res.write(frame);
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
