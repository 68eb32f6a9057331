// Anthropic stream events in, chat.completion.chunk objects out. Tool calls are numbered by their
// own count, not by content block (a text or thinking block before a tool call shifts Anthropic's
// index, never OpenAI's); usage arrives as a last chunk with no choices, like include_usage.
import type { ChatChunk } from '#libs/contracts/chat.ts';
import { isRecord } from '../http.ts';
import { finishReason, toUsage } from './response.ts';
import type { AnthropicUsage, StreamEvent } from './wire.ts';

export class StreamTranslator {
  private readonly created: number;
  private id = '';
  private model = '';
  private usage: AnthropicUsage = {};
  /** Content block index → tool call index. */
  private readonly toolCalls = new Map<number, number>();
  private stopped = false;

  constructor(created: number) {
    this.created = created;
  }

  /** True once message_stop came: the stream is complete. */
  get finished(): boolean {
    return this.stopped;
  }

  translate(event: StreamEvent): ChatChunk[] {
    switch (event.type) {
      case 'message_start':
        this.id = event.message.id;
        this.model = event.message.model;
        this.usage = { ...event.message.usage };
        return [this.chunk({ role: 'assistant', content: '' }, null)];
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'text') return block.text ? [this.chunk({ content: block.text }, null)] : [];
        if (block.type !== 'tool_use') return [];
        const index = this.toolCalls.size;
        this.toolCalls.set(event.index, index);
        const args = openingArguments(block.input);
        return [this.chunk({ tool_calls: [{ index, id: block.id ?? '', type: 'function', function: { name: block.name ?? '', arguments: args } }] }, null)];
      }
      case 'content_block_delta': {
        const delta = event.delta;
        if (delta.type === 'text_delta' && delta.text) return [this.chunk({ content: delta.text }, null)];
        const index = this.toolCalls.get(event.index);
        if (delta.type === 'input_json_delta' && delta.partial_json && index !== undefined) {
          return [this.chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] }, null)];
        }
        // thinking_delta, signature_delta, citations_delta: nothing in the chat shape carries them.
        return [];
      }
      case 'content_block_stop':
        return [];
      case 'message_delta': {
        // Usage here is cumulative; newer API versions repeat the input counts too.
        for (const [field, value] of Object.entries(event.usage ?? {})) {
          if (typeof value === 'number') this.usage = { ...this.usage, [field]: value };
        }
        const reason = finishReason(event.delta.stop_reason);
        return reason === null ? [] : [this.chunk({}, reason)];
      }
      case 'message_stop':
        this.stopped = true;
        return [{ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: toUsage(this.usage) }];
    }
  }

  private chunk(delta: Record<string, unknown>, finish: string | null): ChatChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
  }
}

/** The input normally arrives as input_json_delta after an empty `{}`; a non-empty one here is all there is. */
function openingArguments(input: unknown): string {
  if (input === undefined || (isRecord(input) && Object.keys(input).length === 0)) return '';
  return JSON.stringify(input);
}
