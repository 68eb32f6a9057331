// The event-stream framer must give the same frames however TCP cuts the bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { EventStreamDecoder, type EventFrame } from './event-stream.ts';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function frame(eventType: string, payload: string): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(payload),
  });
}

const wire = Buffer.concat([
  frame('messageStart', '{"p":"abc","role":"assistant"}'),
  frame('contentBlockDelta', '{"contentBlockIndex":0,"delta":{"text":"héllo ☃"},"p":"abcdefgh"}'),
  frame('messageStop', '{"p":"a","stopReason":"end_turn"}'),
]);

function summary(frames: EventFrame[]): string[] {
  return frames.map((f) => `${f.headers[':message-type']} ${f.headers[':event-type']} ${Buffer.from(f.payload).toString('utf8')}`);
}

const expected = [
  'event messageStart {"p":"abc","role":"assistant"}',
  'event contentBlockDelta {"contentBlockIndex":0,"delta":{"text":"héllo ☃"},"p":"abcdefgh"}',
  'event messageStop {"p":"a","stopReason":"end_turn"}',
];

void describe('EventStreamDecoder', () => {
  void it('decodes frames that arrive in one piece', () => {
    const decoder = new EventStreamDecoder();
    assert.deepEqual(summary(decoder.push(wire)), expected);
    assert.equal(decoder.pendingBytes, 0);
  });

  void it('gives the same frames when the bytes are cut in two at every offset', () => {
    for (let cut = 1; cut < wire.length; cut++) {
      const decoder = new EventStreamDecoder();
      const frames = [...decoder.push(wire.subarray(0, cut)), ...decoder.push(wire.subarray(cut))];
      assert.deepEqual(summary(frames), expected, `cut at ${cut}`);
      assert.equal(decoder.pendingBytes, 0);
    }
  });

  void it('gives the same frames when the bytes arrive one at a time', () => {
    const decoder = new EventStreamDecoder();
    const frames: EventFrame[] = [];
    for (let i = 0; i < wire.length; i++) frames.push(...decoder.push(wire.subarray(i, i + 1)));
    assert.deepEqual(summary(frames), expected);
  });

  void it('holds a partial frame until the rest arrives', () => {
    const decoder = new EventStreamDecoder();
    const first = frame('messageStart', '{"role":"assistant"}');
    assert.deepEqual(decoder.push(first.subarray(0, first.length - 1)), []);
    assert.equal(decoder.pendingBytes, first.length - 1);
    assert.equal(decoder.push(first.subarray(first.length - 1)).length, 1);
  });

  void it('throws on a frame whose message CRC does not match', () => {
    const corrupt = Buffer.from(frame('messageStart', '{"role":"assistant"}'));
    corrupt[corrupt.length - 6] ^= 0xff;
    assert.throws(() => new EventStreamDecoder().push(corrupt), /checksum/);
  });

  void it('throws on a prelude declaring an impossible length instead of waiting forever', () => {
    const bogus = Buffer.alloc(12);
    bogus.writeUInt32BE(3, 0);
    assert.throws(() => new EventStreamDecoder().push(bogus), /declares 3 bytes/);
  });
});
