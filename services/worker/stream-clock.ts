// Bounds the silences of one streamed call: firstByteMs from the call's start until its first
// chunk with some of the answer in it — response headers and an opening role chunk do not count,
// since a provider may send both and then stall — and idleMs between chunks after that. The
// adapter's own body timeout is set no lower than firstByteMs, so it cannot cut the wait for the
// first token short; this clock is what enforces idleMs on a stream.
import { carriesAnswer, type ChatChunk } from '#libs/contracts/chat.ts';
import { UpstreamError } from '#libs/providers/provider.ts';

export class StreamClock {
  private readonly controller = new AbortController();
  private readonly timeouts: { firstByteMs: number; idleMs: number };
  private timer: NodeJS.Timeout;
  private answering = false;
  /** Why the clock aborted the call; undefined while it has not. */
  expired: UpstreamError | undefined;

  constructor(timeouts: { firstByteMs: number; idleMs: number }) {
    this.timeouts = timeouts;
    this.timer = setTimeout(() => this.expire('first_byte'), timeouts.firstByteMs);
  }

  /** Aborts the call when a bound is passed. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Every chunk the call yields, in order. */
  chunk(chunk: ChatChunk): void {
    if (this.answering) {
      this.timer.refresh();
      return;
    }
    if (!carriesAnswer(chunk)) return;
    this.answering = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.expire('idle'), this.timeouts.idleMs);
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private expire(phase: 'first_byte' | 'idle'): void {
    this.expired =
      phase === 'first_byte'
        ? new UpstreamError(`no first token within ${this.timeouts.firstByteMs} ms (timeouts.firstByteMs)`, { phase, code: 'UND_ERR_HEADERS_TIMEOUT' })
        : new UpstreamError(`no chunk for ${this.timeouts.idleMs} ms (timeouts.idleMs)`, { phase, code: 'UND_ERR_BODY_TIMEOUT' });
    this.controller.abort(this.expired);
  }
}
