// Publishes a stream's chunks as live events, in order, without waiting on each round trip, and
// keeps the stream one stream across attempts: a fallback's chunks carry the first attempt's id,
// its opening role chunk is dropped, and the text so far is what a continuation resumes from.
// Chunks are shaped as the client asked: usage only with stream_options.include_usage.
// The opening role chunk is held until the first chunk with some of the answer, and the first
// event from each target says which target it is (`answering`): ingest holds a stream's response
// headers until its first event, so they name the target that produced the first token.
import { carriesAnswer, chatChunkSchema, type ChatChunk } from '#libs/contracts/chat.ts';
import type { Answering, ChatEnvelope, LiveEvent } from '#libs/contracts/envelope.ts';
import { StreamAssembler } from '#libs/providers/stream-assembler.ts';
import type { Store } from '#libs/store/store.ts';

export class StreamRelay {
  private seq = 0;
  private id: string | undefined;
  private roleSent = false;
  /** An opening role chunk not published yet: it goes out with the first chunk that answers. */
  private opening: ChatChunk | undefined;
  /** The target named by the last `answering` published. */
  private announced: string | undefined;
  private pending: Promise<void>[] = [];
  private readonly store: Store;
  private readonly envelope: ChatEnvelope;
  private readonly includeUsage: boolean;
  readonly assembler = new StreamAssembler();

  /** `history`: the events an earlier execution already published, which this one continues. */
  constructor(store: Store, envelope: ChatEnvelope, history: LiveEvent[] = []) {
    this.store = store;
    this.envelope = envelope;
    this.includeUsage = envelope.body.stream_options?.include_usage === true;
    for (const event of history) {
      if (event.type !== 'delta') continue;
      const parsed = chatChunkSchema.safeParse(event.data);
      this.seq = Math.max(this.seq, event.seq);
      if (!parsed.success) continue;
      this.id ??= parsed.data.id;
      if (parsed.data.choices.some((c) => c.delta.role !== undefined)) this.roleSent = true;
      this.assembler.add(parsed.data);
    }
  }

  /** `answering`: the target whose call produced the chunk. */
  send(chunk: ChatChunk, answering: Answering): void {
    this.id ??= chunk.id;
    const opening = chunk.choices.length > 0 && chunk.choices.every((c) => c.delta.role !== undefined) && !carriesAnswer(chunk);
    if (opening) {
      if (!this.roleSent) this.opening ??= chunk;
      return;
    }
    const held = this.opening;
    this.opening = undefined;
    if (held) {
      this.roleSent = true;
      this.publish(held, answering);
    }
    this.publish(chunk, answering);
  }

  private publish(chunk: ChatChunk, answering: Answering): void {
    const id = this.id ?? chunk.id;
    const unified: ChatChunk = chunk.id === id ? chunk : { ...chunk, id };
    this.assembler.add(unified);
    let data: Record<string, unknown> = unified;
    if (!this.includeUsage) {
      if (unified.choices.length === 0) return;
      const { usage: _usage, ...rest } = unified;
      data = rest;
    }
    const target = `${answering.provider}/${answering.model}`;
    const announce = target !== this.announced;
    this.announced = target;
    const event: LiveEvent = { id: this.envelope.id, seq: ++this.seq, type: 'delta', data, ...(announce ? { answering } : {}) };
    this.pending.push(this.store.publish(event, { replay: true, replyTo: this.envelope.reply.to }));
  }

  /** Events published so far (the terminal event takes the next number). */
  count(): number {
    return this.seq;
  }

  /** True once output (text or tool calls) has reached the client: a failure from here on is mid-stream. */
  hasOutput(): boolean {
    return this.assembler.text().length > 0 || this.hasToolCalls();
  }

  /** A partial tool call cannot be continued by another model; such a stream ends with an error. */
  hasToolCalls(): boolean {
    return this.assembler.completion().choices.some((c) => Array.isArray((c.message as { tool_calls?: unknown }).tool_calls));
  }

  async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    await Promise.all(pending);
  }
}
