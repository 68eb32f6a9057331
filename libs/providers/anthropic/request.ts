// The canonical (OpenAI Chat Completions) request as an Anthropic Messages request: system turns
// lifted to `system`, tool calls and tool results as blocks, consecutive same-role turns merged.
// Only fields Anthropic knows are sent: it rejects unknown top-level fields.
import type { ChatMessage, ChatRequest } from '#libs/contracts/chat.ts';
import { isRecord, parseJsonOr } from '../http.ts';
import type { ImageBlock, MessageParam, MessagesRequest, RequestBlock, TextBlock, ToolChoiceParam, ToolParam, ToolResultBlock, ToolUseBlock } from './wire.ts';

type Content = ChatMessage['content'];

export function toMessagesRequest(request: ChatRequest, model: string, defaults: { maxTokens: number }, stream: boolean): MessagesRequest {
  const systemParts: Content[] = [];
  const messages: MessageParam[] = [];
  for (const message of request.messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        systemParts.push(message.content);
        break;
      case 'assistant': {
        const content = assistantContent(message);
        // An empty assistant turn is rejected upstream and says nothing; the turns around it merge.
        if (content.length > 0) append(messages, 'assistant', content);
        break;
      }
      case 'tool':
        append(messages, 'user', [toolResult(message)]);
        break;
      default:
        append(messages, 'user', userContent(message.content));
    }
  }

  const body: MessagesRequest = { model, max_tokens: request.max_completion_tokens ?? request.max_tokens ?? defaults.maxTokens, messages };
  const system = systemOf(systemParts);
  if (system !== undefined) body.system = system;
  // OpenAI allows temperatures up to 2, Anthropic up to 1: a request that falls back from one to
  // the other should still be answered, as hot as Anthropic allows.
  if (typeof request.temperature === 'number') body.temperature = Math.min(request.temperature, 1);
  if (typeof request.top_p === 'number') body.top_p = request.top_p;
  if (typeof request.top_k === 'number') body.top_k = request.top_k;
  const stop = stopSequences(request.stop);
  if (stop.length > 0) body.stop_sequences = stop;
  if (Array.isArray(request.tools) && request.tools.length > 0) {
    body.tools = request.tools.map(toolParam);
    const choice = toolChoice(request.tool_choice, request.parallel_tool_calls === false);
    if (choice !== undefined) body.tool_choice = choice;
  }
  if (typeof request.user === 'string' && request.user !== '') body.metadata = { user_id: request.user };
  if (stream) body.stream = true;
  return body;
}

/** Appends a turn, merging it into the last one when the role repeats (Anthropic wants turns to alternate). */
function append(messages: MessageParam[], role: MessageParam['role'], content: string | RequestBlock[]): void {
  const last = messages.at(-1);
  if (last?.role === role) last.content = [...asBlocks(last.content), ...asBlocks(content)];
  else messages.push({ role, content });
}

function asBlocks(content: string | RequestBlock[]): RequestBlock[] {
  if (typeof content !== 'string') return content;
  return content === '' ? [] : [{ type: 'text', text: content }];
}

/** One string when every system turn is a plain string (a blank line between turns), text blocks otherwise. */
function systemOf(parts: Content[]): string | TextBlock[] | undefined {
  if (parts.length === 0) return undefined;
  if (parts.every((p) => typeof p === 'string')) return parts.join('\n\n');
  return parts.flatMap((p) => userBlocks(p).filter((b): b is TextBlock => b.type === 'text'));
}

function userContent(content: Content): string | RequestBlock[] {
  return typeof content === 'string' ? content : userBlocks(content);
}

function userBlocks(content: Content): RequestBlock[] {
  if (typeof content === 'string') return asBlocks(content);
  if (!Array.isArray(content)) return [];
  const blocks: RequestBlock[] = [];
  for (const part of content) {
    const block = partBlock(part);
    if (block !== undefined) blocks.push(block);
  }
  return blocks;
}

/** A content part as a block; text and images are translated, parts Anthropic may know itself pass as they are. */
function partBlock(part: { type: string; [key: string]: unknown }): RequestBlock | undefined {
  switch (part.type) {
    case 'text':
    case 'refusal': {
      const text = part.type === 'text' ? part.text : part.refusal;
      if (typeof text !== 'string' || text === '') return undefined;
      return part.cache_control === undefined ? { type: 'text', text } : { type: 'text', text, cache_control: part.cache_control };
    }
    case 'image_url': {
      const url = isRecord(part.image_url) ? part.image_url.url : part.image_url;
      return typeof url === 'string' ? imageBlock(url) : part;
    }
    case 'file': {
      const data = isRecord(part.file) ? dataUrl(part.file.file_data) : undefined;
      return data === undefined ? part : { type: 'document', source: { type: 'base64', media_type: data.mediaType, data: data.data } };
    }
    default:
      return part;
  }
}

function imageBlock(url: string): ImageBlock {
  const data = dataUrl(url);
  if (data !== undefined) return { type: 'image', source: { type: 'base64', media_type: data.mediaType, data: data.data } };
  return { type: 'image', source: { type: 'url', url } };
}

function dataUrl(value: unknown): { mediaType: string; data: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^data:([^;,]+)(?:;[^;,]+)*;base64,(.*)$/s.exec(value);
  return match ? { mediaType: match[1], data: match[2] } : undefined;
}

function assistantContent(message: ChatMessage): RequestBlock[] {
  const blocks = userBlocks(message.content);
  for (const call of message.tool_calls ?? []) {
    const fn = isRecord(call.function) ? call.function : {};
    const block: ToolUseBlock = { type: 'tool_use', id: call.id, name: typeof fn.name === 'string' ? fn.name : '', input: toolInput(fn.arguments) };
    blocks.push(block);
  }
  return blocks;
}

/**
 * Anthropic wants the input as an object. Arguments that are not a JSON object (a model's call cut
 * short by max_tokens, say) become {} rather than failing the whole conversation.
 */
function toolInput(args: unknown): Record<string, unknown> {
  if (typeof args !== 'string') return isRecord(args) ? args : {};
  const parsed = parseJsonOr(args);
  return isRecord(parsed) ? parsed : {};
}

function toolResult(message: ChatMessage): ToolResultBlock {
  const content = message.content;
  return { type: 'tool_result', tool_use_id: message.tool_call_id ?? '', content: typeof content === 'string' ? content : userBlocks(content) };
}

function stopSequences(stop: unknown): string[] {
  if (typeof stop === 'string') return stop === '' ? [] : [stop];
  if (Array.isArray(stop)) return stop.filter((s): s is string => typeof s === 'string' && s !== '');
  return [];
}

function toolParam(tool: { type: string; [key: string]: unknown }): ToolParam | { type: string; [key: string]: unknown } {
  if (tool.type !== 'function' || !isRecord(tool.function)) return tool;
  const fn = tool.function;
  const param: ToolParam = { name: typeof fn.name === 'string' ? fn.name : '', input_schema: fn.parameters ?? { type: 'object', properties: {} } };
  if (typeof fn.description === 'string') param.description = fn.description;
  return param;
}

function toolChoice(choice: unknown, serial: boolean): ToolChoiceParam | undefined {
  const parallel = serial ? { disable_parallel_tool_use: true } : {};
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...parallel };
  if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { type: 'tool', name: choice.function.name, ...parallel };
  }
  if (choice === 'auto' || serial) return { type: 'auto', ...parallel };
  return undefined;
}
