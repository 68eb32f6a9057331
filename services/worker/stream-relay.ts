// Publishes a stream's chunks as live events, in order, without waiting on each round trip, and
// keeps the stream one stream across attempts: a fallback's chunks carry the first attempt's id,
// its opening role chunk is dropped, and the text so far is what a continuation resumes from.
// Chunks are shaped as the client asked: usage only with stream_options.include_usage.
import { chatChunkSchema, type ChatChunk } from '#libs/contracts/chat.ts';
import type { ChatEnvelope, LiveEvent } from '#libs/contracts/envelope.ts';
import { StreamAssembler } from '#libs/providers/stream-assembler.ts';
import type { Store } from '#libs/store/store.ts';

export class StreamRelay {
  private seq = 0;
  private id: string | undefined;
  private roleSent = false;
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

  send(chunk: ChatChunk): void {
    this.id ??= chunk.id;
    const opening = chunk.choices.length > 0 && chunk.choices.every((c) => c.delta.role !== undefined && !c.delta.content && !c.delta.tool_calls && !c.finish_reason);
    if (opening && this.roleSent) return;
    if (opening) this.roleSent = true;
    const unified: ChatChunk = chunk.id === this.id ? chunk : { ...chunk, id: this.id };
    this.assembler.add(unified);
    let data: Record<string, unknown> = unified;
    if (!this.includeUsage) {
      if (unified.choices.length === 0) return;
      const { usage: _usage, ...rest } = unified;
      data = rest;
    }
    const event: LiveEvent = { id: this.envelope.id, seq: ++this.seq, type: 'delta', data };
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
