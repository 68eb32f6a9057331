// Rewrites a stream of canonical chat.completion.chunk objects as Anthropic's SSE events:
// message_start, ping, one content block at a time (text or tool_use, indexed in order),
// message_delta with the stop reason and usage, message_stop; or an `error` event mid-stream.
// Stateful and pure: it returns the frames to write and never writes them itself.
import { z } from 'zod';
import type { ChatChunk, Usage } from '#libs/contracts/chat.ts';
import type { OpenAIError } from '#libs/contracts/openai-error.ts';
import { anthropicError } from './errors.ts';
import { anthropicUsage, fallbackToolId, matchedStopSequence, messageId, stopReason } from './response.ts';

export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const toolCallDeltaSchema = z.looseObject({
  index: z.number().int(),
  id: z.string().nullish(),
  function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});

interface ToolCallState {
  /** The Anthropic content block index, once the block has been opened. */
  block?: number;
  id?: string;
  name?: string;
  /** Argument text that arrived before the name did, sent when the block opens. */
  pendingArgs: string;
  /** Order among the tool calls, for an id when the provider gives none. */
  ordinal: number;
}

export interface StreamTranslatorOptions {
  /** The model the client asked for, as it is echoed in message_start. */
  model: string;
  /** The message id to use; by default derived from the first chunk's id (`chatcmpl-x` → `msg_x`). */
  messageId?: string;
  /** Prompt tokens, when known before the first chunk; message_delta carries the final count anyway. */
  inputTokens?: number;
}

export class AnthropicStreamTranslator {
  private readonly opts: StreamTranslatorOptions;
  private id = '';
  private began = false;
  private ended = false;
  private nextBlock = 0;
  private open: { block: number; kind: 'text' | 'tool_use' } | undefined;
  private readonly toolCalls = new Map<number, ToolCallState>();
  private finishReason: string | null = null;
  private stopSequence: string | null = null;
  private refused = false;
  private usage: Usage | undefined;

  constructor(opts: StreamTranslatorOptions) {
    this.opts = opts;
  }

  /** True once message_start has been produced: from here on a failure is an `error` event. */
  get started(): boolean {
    return this.began;
  }

  /** True once finish() or error() has produced the stream's last frame. */
  get done(): boolean {
    return this.ended;
  }

  /** The frames one chunk amounts to; the first chunk also opens the message. */
  push(chunk: ChatChunk): string[] {
    if (this.ended) return [];
    const frames: string[] = [];
    if (chunk.usage) this.usage = chunk.usage;
    this.begin(chunk.id, frames);
    // Anthropic has one candidate per message; other choices (n > 1) have nowhere to go.
    const choice = chunk.choices.find((c) => c.index === 0);
    if (choice === undefined) return frames;
    const delta = choice.delta;
    if (typeof delta.content === 'string' && delta.content !== '') this.text(delta.content, frames);
    if (typeof delta.refusal === 'string' && delta.refusal !== '') {
      this.refused = true;
      this.text(delta.refusal, frames);
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const raw of delta.tool_calls) {
        const call = toolCallDeltaSchema.safeParse(raw);
        if (call.success) this.toolCall(call.data, frames);
      }
    }
    if (choice.finish_reason) {
      this.finishReason = choice.finish_reason;
      this.stopSequence = matchedStopSequence(choice);
    }
    return frames;
  }

  /** The stream's end after its last chunk: closes the open block, then message_delta and message_stop. */
  finish(): string[] {
    if (this.ended) return [];
    const frames: string[] = [];
    this.begin(undefined, frames);
    // A tool call whose name never came still gets its block, so its arguments are not lost.
    for (const call of this.toolCalls.values()) if (call.block === undefined) this.openToolUse(call, frames);
    this.close(frames);
    const stop = stopReason(this.finishReason, { hasToolCalls: this.toolCalls.size > 0, stopSequence: this.stopSequence });
    if (this.refused && stop.stop_reason === 'end_turn') stop.stop_reason = 'refusal';
    const usage = this.usage ? anthropicUsage(this.usage) : { output_tokens: 0 };
    frames.push(sseFrame('message_delta', { type: 'message_delta', delta: stop, usage }));
    frames.push(sseFrame('message_stop', { type: 'message_stop' }));
    this.ended = true;
    return frames;
  }

  /**
   * A failure after the stream has begun, as Anthropic's `error` event; nothing follows it. Before
   * anything was written, answer with the HTTP status and anthropicError() as JSON instead.
   */
  error(status: number, error: Pick<OpenAIError, 'message'> & Partial<Pick<OpenAIError, 'type' | 'code'>>, requestId?: string): string[] {
    if (this.ended) return [];
    this.ended = true;
    return [sseFrame('error', anthropicError(status, error, requestId))];
  }

  private begin(chunkId: string | undefined, frames: string[]): void {
    if (this.began) return;
    this.began = true;
    this.id = this.opts.messageId ?? messageId(chunkId ?? '');
    const inputTokens = this.usage ? anthropicUsage(this.usage).input_tokens : (this.opts.inputTokens ?? 0);
    const message = {
      id: this.id,
      type: 'message',
      role: 'assistant',
      model: this.opts.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: 0 },
    };
    frames.push(sseFrame('message_start', { type: 'message_start', message }));
    frames.push(sseFrame('ping', { type: 'ping' }));
  }

  private text(text: string, frames: string[]): void {
    if (this.open?.kind !== 'text') {
      this.close(frames);
      this.open = { block: this.nextBlock++, kind: 'text' };
      frames.push(sseFrame('content_block_start', { type: 'content_block_start', index: this.open.block, content_block: { type: 'text', text: '' } }));
    }
    frames.push(sseFrame('content_block_delta', { type: 'content_block_delta', index: this.open.block, delta: { type: 'text_delta', text } }));
  }

  private toolCall(delta: z.infer<typeof toolCallDeltaSchema>, frames: string[]): void {
    let call = this.toolCalls.get(delta.index);
    if (call === undefined) {
      call = { pendingArgs: '', ordinal: this.toolCalls.size };
      this.toolCalls.set(delta.index, call);
    }
    if (delta.id) call.id ??= delta.id;
    const args = delta.function?.arguments ?? '';
    if (call.block === undefined) {
      if (delta.function?.name) call.name = (call.name ?? '') + delta.function.name;
      call.pendingArgs += args;
      if (call.name !== undefined) this.openToolUse(call, frames);
    } else if (args !== '') {
      // Providers stream one call after another; should one come back to an earlier call, its
      // arguments still go to that call's block rather than being dropped.
      frames.push(inputJsonDelta(call.block, args));
    }
  }

  private openToolUse(call: ToolCallState, frames: string[]): void {
    this.close(frames);
    const block = this.nextBlock++;
    call.block = block;
    this.open = { block, kind: 'tool_use' };
    const contentBlock = { type: 'tool_use', id: call.id ?? fallbackToolId(this.id, call.ordinal), name: call.name ?? '', input: {} };
    frames.push(sseFrame('content_block_start', { type: 'content_block_start', index: block, content_block: contentBlock }));
    if (call.pendingArgs !== '') frames.push(inputJsonDelta(block, call.pendingArgs));
    call.pendingArgs = '';
  }

  private close(frames: string[]): void {
    if (this.open === undefined) return;
    frames.push(sseFrame('content_block_stop', { type: 'content_block_stop', index: this.open.block }));
    this.open = undefined;
  }
}

function inputJsonDelta(index: number, partialJson: string): string {
  return sseFrame('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: partialJson } });
}
