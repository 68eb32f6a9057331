// An Anthropic message as a chat.completion: text blocks joined, tool_use blocks as tool_calls,
// the stop reason as a finish reason, and cache tokens counted into the prompt.
import type { ChatCompletion, Usage } from '#libs/contracts/chat.ts';
import type { AnthropicMessage, AnthropicUsage } from './wire.ts';

const finishReasons: ReadonlyMap<string, string> = new Map([
  ['end_turn', 'stop'],
  ['stop_sequence', 'stop'],
  // A server tool ran long and the turn paused; the client sees a finished turn it may continue.
  ['pause_turn', 'stop'],
  ['max_tokens', 'length'],
  ['model_context_window_exceeded', 'length'],
  ['tool_use', 'tool_calls'],
  ['refusal', 'content_filter'],
]);

export function finishReason(stopReason: string | null | undefined): string | null {
  if (stopReason === null || stopReason === undefined) return null;
  return finishReasons.get(stopReason) ?? 'stop';
}

/** OpenAI counts every prompt token in prompt_tokens; Anthropic splits off the cache writes and reads. */
export function toUsage(usage: AnthropicUsage): Usage {
  const read = usage.cache_read_input_tokens ?? 0;
  const prompt = (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + read;
  const completion = usage.output_tokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: read } };
}

export function toChatCompletion(message: AnthropicMessage, created: number): ChatCompletion {
  const texts: string[] = [];
  const toolCalls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] = [];
  for (const block of message.content) {
    if (block.type === 'text' && block.text !== undefined) texts.push(block.text);
    else if (block.type === 'tool_use') {
      toolCalls.push({ id: block.id ?? '', type: 'function', function: { name: block.name ?? '', arguments: JSON.stringify(block.input ?? {}) } });
    }
  }
  const content = texts.length > 0 ? texts.join('') : toolCalls.length > 0 ? null : '';
  return {
    id: message.id,
    object: 'chat.completion',
    created,
    model: message.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}), refusal: null },
        logprobs: null,
        finish_reason: finishReason(message.stop_reason),
      },
    ],
    usage: toUsage(message.usage),
  };
}
