// Gemini's GenerateContentResponse as a chat.completion: text and function-call parts, finish
// reasons, prompt blocks and usage. Ids and the clock come from a TranslateContext.
import { randomBytes } from 'node:crypto';
import type { ChatCompletion, Usage } from '#libs/contracts/chat.ts';
import { isRecord } from '../http.ts';

type Json = Record<string, unknown>;

/** Per-call sources of the values a translation cannot derive from its input. */
export interface TranslateContext {
  /** Tool-call ids: Gemini's function calls carry none, OpenAI's must. */
  newToolCallId?: () => string;
  /** The completion id when the response gives no responseId. */
  newCompletionId?: () => string;
  /** Seconds since the epoch. */
  now?: () => number;
}

export function newToolCallId(): string {
  return `call_${randomBytes(12).toString('hex')}`;
}

export function newCompletionId(): string {
  return `chatcmpl-${randomBytes(12).toString('hex')}`;
}

const filterReasons = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

/** OpenAI's finish_reason for a Gemini finishReason; undefined while the candidate is unfinished. */
export function finishReasonOf(reason: unknown, hasToolCalls: boolean): string | undefined {
  if (typeof reason !== 'string' || reason === '') return undefined;
  if (reason === 'MAX_TOKENS') return 'length';
  if (filterReasons.has(reason)) return 'content_filter';
  return hasToolCalls ? 'tool_calls' : 'stop';
}

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  extra_content?: { google: { thought_signature: string } };
}

export function toolCallOf(part: Json, id: string): ToolCall | undefined {
  const call = part.functionCall;
  if (!isRecord(call) || typeof call.name !== 'string') return undefined;
  const out: ToolCall = { id, type: 'function', function: { name: call.name, arguments: JSON.stringify(isRecord(call.args) ? call.args : {}) } };
  if (typeof part.thoughtSignature === 'string') out.extra_content = { google: { thought_signature: part.thoughtSignature } };
  return out;
}

/** The answer text of a part; thought summaries are not part of the answer. */
export function answerText(part: Json): string | undefined {
  return typeof part.text === 'string' && part.thought !== true ? part.text : undefined;
}

export function partsOf(candidate: Json): Json[] {
  const content = candidate.content;
  return isRecord(content) && Array.isArray(content.parts) ? content.parts.filter(isRecord) : [];
}

export function usageOf(metadata: unknown): Usage | undefined {
  if (!isRecord(metadata)) return undefined;
  const count = (key: string): number => (typeof metadata[key] === 'number' ? metadata[key] : 0);
  const prompt = count('promptTokenCount') + count('toolUsePromptTokenCount');
  const reasoning = count('thoughtsTokenCount');
  const completion = count('candidatesTokenCount') + reasoning;
  const total = typeof metadata.totalTokenCount === 'number' ? metadata.totalTokenCount : prompt + completion;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: total,
    prompt_tokens_details: { cached_tokens: count('cachedContentTokenCount') },
    completion_tokens_details: { reasoning_tokens: reasoning },
  };
}

export function blockReasonOf(response: Json): string | undefined {
  const feedback = response.promptFeedback;
  return isRecord(feedback) && typeof feedback.blockReason === 'string' ? feedback.blockReason : undefined;
}

export function completionIdOf(response: Json, ctx: TranslateContext): string {
  return typeof response.responseId === 'string' && response.responseId !== '' ? `chatcmpl-${response.responseId}` : (ctx.newCompletionId ?? newCompletionId)();
}

export function nowSeconds(ctx: TranslateContext): number {
  return ctx.now ? ctx.now() : Math.floor(Date.now() / 1000);
}

/** The chat.completion a GenerateContentResponse amounts to; undefined when the body is not one. */
export function fromGeminiResponse(response: unknown, model: string, ctx: TranslateContext = {}): ChatCompletion | undefined {
  if (!isRecord(response)) return undefined;
  const candidates = Array.isArray(response.candidates) ? response.candidates.filter(isRecord) : undefined;
  const blocked = blockReasonOf(response);
  if (!candidates && blocked === undefined && !isRecord(response.usageMetadata)) return undefined;
  const newId = ctx.newToolCallId ?? newToolCallId;
  const choices = (candidates ?? []).map((candidate, position) => {
    const texts: string[] = [];
    const toolCalls: ToolCall[] = [];
    for (const part of partsOf(candidate)) {
      const text = answerText(part);
      if (text !== undefined) texts.push(text);
      const call = isRecord(part.functionCall) ? toolCallOf(part, newId()) : undefined;
      if (call) toolCalls.push(call);
    }
    const message: Json = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
    if (toolCalls.length > 0) message.tool_calls = toolCalls;
    return {
      index: typeof candidate.index === 'number' ? candidate.index : position,
      message,
      logprobs: null,
      finish_reason: finishReasonOf(candidate.finishReason, toolCalls.length > 0) ?? 'stop',
    };
  });
  if (choices.length === 0) {
    // A blocked prompt comes back with no candidates at all.
    choices.push({ index: 0, message: { role: 'assistant', content: null }, logprobs: null, finish_reason: blocked === undefined ? 'stop' : 'content_filter' });
  }
  const completion: ChatCompletion = {
    id: completionIdOf(response, ctx),
    object: 'chat.completion',
    created: nowSeconds(ctx),
    model: typeof response.modelVersion === 'string' ? response.modelVersion : model,
    choices,
  };
  const usage = usageOf(response.usageMetadata);
  if (usage) completion.usage = usage;
  return completion;
}
