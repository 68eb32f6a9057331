import type { ChatChunk, Usage } from '#libs/contracts/chat.ts';
import { isRecord } from '../http.ts';
import { answerText, blockReasonOf, completionIdOf, finishReasonOf, newCompletionId, newToolCallId, nowSeconds, partsOf, toolCallOf, usageOf, type TranslateContext } from './response.ts';

type Json = Record<string, unknown>;

interface CandidateState {
  toolCalls: number;
  finished: boolean;
}

/**
 * Turns the GenerateContentResponse objects of a stream into chat.completion.chunks: a role chunk
 * per choice, text deltas, each function call as one complete tool-call delta, the finish_reason,
 * and a closing usage chunk. Gemini's stream simply ends; `complete` says whether it ended finished.
 */
export class GeminiStreamTranslator {
  private id: string | undefined;
  private modelName: string;
  private readonly created: number;
  private readonly ctx: TranslateContext;
  private readonly candidates = new Map<number, CandidateState>();
  private usage: Usage | undefined;

  constructor(model: string, ctx: TranslateContext = {}) {
    this.modelName = model;
    this.ctx = ctx;
    this.created = nowSeconds(ctx);
  }

  /** True once every choice seen has its finish_reason. */
  get complete(): boolean {
    return this.candidates.size > 0 && [...this.candidates.values()].every((c) => c.finished);
  }

  push(event: unknown): ChatChunk[] {
    if (!isRecord(event)) return [];
    this.id ??= completionIdOf(event, this.ctx);
    if (typeof event.modelVersion === 'string') this.modelName = event.modelVersion;
    const usage = usageOf(event.usageMetadata);
    if (usage) this.usage = usage;
    const out: ChatChunk[] = [];
    const candidates = Array.isArray(event.candidates) ? event.candidates.filter(isRecord) : [];
    candidates.forEach((candidate, position) => {
      const index = typeof candidate.index === 'number' ? candidate.index : position;
      const state = this.open(index, out);
      if (state.finished) return;
      for (const part of partsOf(candidate)) {
        const text = answerText(part);
        if (text) out.push(this.chunk(index, { content: text }));
        const call = isRecord(part.functionCall) ? toolCallOf(part, (this.ctx.newToolCallId ?? newToolCallId)()) : undefined;
        if (call) out.push(this.chunk(index, { tool_calls: [{ index: state.toolCalls++, ...call }] }));
      }
      const finish = finishReasonOf(candidate.finishReason, state.toolCalls > 0);
      if (finish !== undefined) {
        state.finished = true;
        out.push(this.chunk(index, {}, finish));
      }
    });
    if (candidates.length === 0 && blockReasonOf(event) !== undefined) {
      const state = this.open(0, out);
      if (!state.finished) {
        state.finished = true;
        out.push(this.chunk(0, {}, 'content_filter'));
      }
    }
    return out;
  }

  /** The closing chunk with no choices, carrying the usage of the whole call. */
  usageChunk(): ChatChunk {
    return { ...this.base(), choices: [], usage: this.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
  }

  private open(index: number, out: ChatChunk[]): CandidateState {
    let state = this.candidates.get(index);
    if (!state) {
      state = { toolCalls: 0, finished: false };
      this.candidates.set(index, state);
      out.push(this.chunk(index, { role: 'assistant', content: '' }));
    }
    return state;
  }

  private base(): { id: string; object: 'chat.completion.chunk'; created: number; model: string } {
    this.id ??= (this.ctx.newCompletionId ?? newCompletionId)();
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.modelName };
  }

  private chunk(index: number, delta: Json, finish: string | null = null): ChatChunk {
    return { ...this.base(), choices: [{ index, delta, logprobs: null, finish_reason: finish }] };
  }
}
