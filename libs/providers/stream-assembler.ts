// Folds a stream of chunks into the chat.completion it amounts to, for the stored result.
import type { ChatChunk, ChatCompletion, Usage } from '#libs/contracts/chat.ts';

interface ToolCallDraft {
  id?: string;
  type: string;
  function: { name: string; arguments: string };
}

interface ChoiceDraft {
  content: string;
  role: string;
  finishReason: string | null;
  toolCalls: ToolCallDraft[];
}

export class StreamAssembler {
  private id = '';
  private model = '';
  private created = 0;
  private usage: Usage | undefined;
  private readonly choices = new Map<number, ChoiceDraft>();

  add(chunk: ChatChunk): void {
    this.id ||= chunk.id;
    this.model ||= chunk.model;
    this.created ||= chunk.created;
    if (chunk.usage) this.usage = chunk.usage;
    for (const c of chunk.choices) {
      let draft = this.choices.get(c.index);
      if (!draft) {
        draft = { content: '', role: 'assistant', finishReason: null, toolCalls: [] };
        this.choices.set(c.index, draft);
      }
      if (typeof c.delta.content === 'string') draft.content += c.delta.content;
      if (c.finish_reason) draft.finishReason = c.finish_reason;
      const toolCalls = (c.delta as { tool_calls?: unknown }).tool_calls;
      if (Array.isArray(toolCalls)) {
        for (const raw of toolCalls as { index: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }[]) {
          const call = (draft.toolCalls[raw.index] ??= { type: 'function', function: { name: '', arguments: '' } });
          if (raw.id) call.id = raw.id;
          if (raw.type) call.type = raw.type;
          if (raw.function?.name) call.function.name += raw.function.name;
          if (raw.function?.arguments) call.function.arguments += raw.function.arguments;
        }
      }
    }
  }

  /** The text so far of the first choice (what a continuation would resume from). */
  text(): string {
    return this.choices.get(0)?.content ?? '';
  }

  completion(): ChatCompletion {
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: [...this.choices.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, d]) => ({
          index,
          message: {
            role: d.role,
            content: d.toolCalls.length > 0 && d.content === '' ? null : d.content,
            ...(d.toolCalls.length > 0 ? { tool_calls: d.toolCalls } : {}),
          },
          logprobs: null,
          finish_reason: d.finishReason,
        })),
      ...(this.usage ? { usage: this.usage } : {}),
    };
  }

  getUsage(): Usage | undefined {
    return this.usage;
  }
}
