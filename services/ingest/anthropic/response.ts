// A canonical chat.completion rewritten as the Anthropic Message an Anthropic client expects, and
// the stop-reason, usage and id rules the stream translator shares.
import { z } from 'zod';
import type { ChatCompletion, Usage } from '#libs/contracts/chat.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import type { AnthropicMessage, AnthropicUsage, ContentBlock, StopReason } from './schema.ts';

const toolCallSchema = z.looseObject({
  id: z.string().nullish(),
  function: z.looseObject({ name: z.string(), arguments: z.string().nullish() }),
});

const choiceSchema = z.looseObject({
  message: z.looseObject({
    content: z.union([z.string(), z.array(z.looseObject({ type: z.string(), text: z.string().optional() }))]).nullish(),
    refusal: z.string().nullish(),
    tool_calls: z.array(toolCallSchema).nullish(),
  }),
  finish_reason: z.string().nullish(),
});

/**
 * Which stop sequence ended the turn, when the provider said: a Spillway adapter for a provider
 * that reports it sets `stop_sequence` on the choice; vLLM-style servers set `stop_reason` to the
 * matched string. OpenAI itself does not say, so its `stop` is `end_turn`.
 */
export function matchedStopSequence(choice: Record<string, unknown>): string | null {
  if (typeof choice.stop_sequence === 'string') return choice.stop_sequence;
  if (typeof choice.stop_reason === 'string') return choice.stop_reason;
  return null;
}

export function stopReason(
  finishReason: string | null | undefined,
  opts: { hasToolCalls: boolean; stopSequence: string | null },
): { stop_reason: StopReason; stop_sequence: string | null } {
  switch (finishReason) {
    case 'length':
      return { stop_reason: 'max_tokens', stop_sequence: null };
    case 'tool_calls':
    case 'function_call':
      return { stop_reason: 'tool_use', stop_sequence: null };
    case 'content_filter':
      return { stop_reason: 'refusal', stop_sequence: null };
    default:
      // Some OpenAI-compatible providers finish a tool call with `stop`; Anthropic clients loop
      // on `tool_use`, so the content decides.
      if (opts.hasToolCalls) return { stop_reason: 'tool_use', stop_sequence: null };
      if (finishReason === 'stop' && opts.stopSequence !== null) return { stop_reason: 'stop_sequence', stop_sequence: opts.stopSequence };
      return { stop_reason: 'end_turn', stop_sequence: null };
  }
}

/**
 * OpenAI counts cached prompt tokens inside prompt_tokens; Anthropic counts them apart, and its
 * input_tokens is only the uncached part, so the two never add up to more than was sent.
 */
export function anthropicUsage(usage: Usage | null | undefined): AnthropicUsage {
  if (!usage) return { input_tokens: 0, output_tokens: 0 };
  const details = (usage as { prompt_tokens_details?: { cached_tokens?: unknown } | null }).prompt_tokens_details;
  const cached = typeof details?.cached_tokens === 'number' ? details.cached_tokens : undefined;
  return {
    input_tokens: Math.max(0, usage.prompt_tokens - (cached ?? 0)),
    output_tokens: usage.completion_tokens,
    ...(cached !== undefined ? { cache_read_input_tokens: cached } : {}),
  };
}

/** `chatcmpl-abc` → `msg_abc`; an id that is already a message id is kept. */
export function messageId(completionId: string): string {
  if (completionId.startsWith('msg_')) return completionId;
  const rest = completionId.replace(/^chatcmpl-/, '');
  return `msg_${rest === '' ? 'spillway' : rest}`;
}

/** For the rare provider whose tool call has no id; stable, so a retried translation agrees. */
export function fallbackToolId(msgId: string, index: number): string {
  return `toolu_${msgId.replace(/^msg_/, '')}_${index}`;
}

export function chatToAnthropic(completion: ChatCompletion, requestedModel: string): AnthropicMessage {
  const id = messageId(completion.id);
  const usage = anthropicUsage(completion.usage);
  const first = completion.choices[0];
  if (first === undefined) return { id, type: 'message', role: 'assistant', model: requestedModel, content: [], stop_reason: 'end_turn', stop_sequence: null, usage };
  const parsed = choiceSchema.safeParse(first);
  if (!parsed.success) {
    throw new GatewayError(502, `The provider's response could not be translated: ${parsed.error.issues[0].message} at choices[0].${parsed.error.issues[0].path.join('.')}.`, { code: 'invalid_upstream_response' });
  }
  const choice = parsed.data;
  const toolCalls = choice.message.tool_calls ?? [];
  const stop = stopReason(choice.finish_reason, { hasToolCalls: toolCalls.length > 0, stopSequence: matchedStopSequence(first) });

  const content: ContentBlock[] = [];
  const text = choice.message.content;
  if (typeof text === 'string') {
    if (text !== '') content.push({ type: 'text', text });
  } else if (Array.isArray(text)) {
    for (const part of text) if (part.type === 'text' && part.text !== undefined && part.text !== '') content.push({ type: 'text', text: part.text });
  }
  if (content.length === 0 && typeof choice.message.refusal === 'string' && choice.message.refusal !== '') {
    content.push({ type: 'text', text: choice.message.refusal });
    stop.stop_reason = 'refusal';
  }
  toolCalls.forEach((call, i) => {
    content.push({
      type: 'tool_use',
      id: call.id ?? fallbackToolId(id, i),
      name: call.function.name,
      input: toolInput(call.function.name, call.function.arguments ?? '', stop.stop_reason === 'max_tokens'),
    });
  });
  return { id, type: 'message', role: 'assistant', model: requestedModel, content, stop_reason: stop.stop_reason, stop_sequence: stop.stop_sequence, usage };
}

/**
 * Anthropic's tool input is an object. Arguments cut off by max_tokens are incomplete by nature
 * and become `{}`; arguments that are not an object in a finished answer are the provider's fault
 * and fail the request (502, which the SDK retries) instead of reaching the client as `{}`.
 */
function toolInput(name: string, args: string, truncated: boolean): Record<string, unknown> {
  if (args.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch {
    value = undefined;
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  if (truncated) return {};
  throw new GatewayError(502, `The provider returned arguments for tool '${name}' that are not a JSON object.`, { code: 'invalid_tool_arguments' });
}
