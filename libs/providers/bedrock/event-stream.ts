// Cuts an application/vnd.amazon.eventstream body into whole messages as its bytes arrive: TCP
// chunks split and join frames anywhere, and the codec only decodes one complete frame at a time.
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';

/** One decoded frame: its string headers (`:event-type`, `:message-type`, …) and raw payload. */
export interface EventFrame {
  headers: Record<string, string>;
  payload: Uint8Array;
}

/** Prelude (total length, headers length, prelude CRC) plus the message CRC. */
const MIN_FRAME_BYTES = 16;
/** The spec's payload limit (24 MB) plus the headers limit (128 kB) and the framing. */
const MAX_FRAME_BYTES = 24 * 1024 * 1024 + 128 * 1024 + MIN_FRAME_BYTES;

export class EventStreamDecoder {
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  private pending: Buffer = Buffer.alloc(0);

  /** Bytes received that do not yet make a whole frame. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Adds received bytes; returns every frame they complete. Throws on a corrupt frame (bad length or CRC). */
  push(chunk: Uint8Array): EventFrame[] {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.pending = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    const frames: EventFrame[] = [];
    while (this.pending.length >= 4) {
      const total = this.pending.readUInt32BE(0);
      if (total < MIN_FRAME_BYTES || total > MAX_FRAME_BYTES) throw new Error(`event stream frame declares ${total} bytes`);
      if (this.pending.length < total) break;
      const message = this.codec.decode(this.pending.subarray(0, total));
      this.pending = this.pending.subarray(total);
      const headers: Record<string, string> = {};
      for (const [name, header] of Object.entries(message.headers)) if (header.type === 'string') headers[name] = header.value;
      frames.push({ headers, payload: message.body });
    }
    return frames;
  }
}
