// Pure translation between the canonical OpenAI chat shape and Bedrock's Converse API: the
// request, the whole response, the ConverseStream events, and Bedrock's errors and exceptions.
import { z } from 'zod';
import type { ChatChunk, ChatCompletion, ChatMessage, ChatRequest, Usage } from '#libs/contracts/chat.ts';
import { errorTypeFor, type OpenAIError } from '#libs/contracts/openai-error.ts';
import { UpstreamError } from '../provider.ts';
import { isRecord } from '../http.ts';

// ---------------------------------------------------------------- request

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp';

export type ConverseBlock =
  | { text: string }
  | { image: { format: ImageFormat; source: { bytes: string } } }
  | { toolUse: { toolUseId: string; name: string; input: unknown } }
  | { toolResult: { toolUseId: string; content: { text: string }[] } };

export interface ConverseMessage {
  role: 'user' | 'assistant';
  content: ConverseBlock[];
}

export interface ConverseRequest {
  messages: ConverseMessage[];
  system?: { text: string }[];
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] };
  toolConfig?: {
    tools: { toolSpec: { name: string; description?: string; inputSchema: { json: unknown } } }[];
    toolChoice?: { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } };
  };
}

const imageFormats: Record<string, ImageFormat> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

/** A request Bedrock cannot take, refused before it is sent: a caller fault, never retried elsewhere as is. */
export function invalidRequest(message: string, param: string, code: string): UpstreamError {
  const error: OpenAIError = { message, type: 'invalid_request_error', param, code };
  return new UpstreamError(`Bedrock cannot take this request: ${message}`, { status: 400, phase: 'response', body: { error } });
}

/** The Converse body for a chat request (the model goes in the URL, not the body). */
export function toConverseRequest(request: ChatRequest): ConverseRequest {
  if (typeof request.n === 'number' && request.n > 1) throw invalidRequest('Bedrock returns one choice; n must be 1.', 'n', 'unsupported_parameter');
  const system: { text: string }[] = [];
  const messages: ConverseMessage[] = [];
  request.messages.forEach((message, i) => {
    if (message.role === 'system' || message.role === 'developer') {
      for (const text of textsOf(message, `messages[${i}].content`)) system.push({ text });
      return;
    }
    const converted = toConverseMessage(message, i);
    if (converted.content.length === 0) return;
    const last = messages.at(-1);
    // Bedrock wants user and assistant turns to alternate; tool results ride in a user turn.
    if (last && last.role === converted.role) last.content.push(...converted.content);
    else messages.push(converted);
  });

  const body: ConverseRequest = { messages };
  if (system.length > 0) body.system = system;
  const inference = inferenceConfig(request);
  if (inference) body.inferenceConfig = inference;
  const tools = toolConfig(request);
  if (tools) body.toolConfig = tools;
  return body;
}

function toConverseMessage(message: ChatMessage, i: number): ConverseMessage {
  const where = `messages[${i}]`;
  switch (message.role) {
    case 'user':
      return { role: 'user', content: userBlocks(message.content, `${where}.content`) };
    case 'assistant': {
      const content: ConverseBlock[] = textsOf(message, `${where}.content`).map((text) => ({ text }));
      (message.tool_calls ?? []).forEach((call, j) => content.push({ toolUse: toolUseOf(call, `${where}.tool_calls[${j}]`) }));
      return { role: 'assistant', content };
    }
    case 'tool': {
      if (typeof message.tool_call_id !== 'string') throw invalidRequest(`${where}.tool_call_id is required on a tool message.`, `${where}.tool_call_id`, 'missing_required_parameter');
      const content = textsOf(message, `${where}.content`).map((text) => ({ text }));
      return { role: 'user', content: [{ toolResult: { toolUseId: message.tool_call_id, content } }] };
    }
    default:
      throw invalidRequest(`${where}: the "${message.role}" role is not supported by Bedrock; use tools and tool messages.`, `${where}.role`, 'unsupported_role');
  }
}

/** The non-blank texts of a message whose content is a string or text parts. */
function textsOf(message: ChatMessage, where: string): string[] {
  const content = message.content;
  if (typeof content === 'string') return content.trim() === '' ? [] : [content];
  if (!Array.isArray(content)) return [];
  const texts: string[] = [];
  content.forEach((part, j) => {
    const text = part.type === 'text' ? part.text : part.type === 'refusal' ? part.refusal : undefined;
    if (typeof text !== 'string') throw invalidRequest(`${where}[${j}]: only text parts are supported here, not "${part.type}".`, `${where}[${j}]`, 'unsupported_content');
    if (text.trim() !== '') texts.push(text);
  });
  return texts;
}

function userBlocks(content: ChatMessage['content'], where: string): ConverseBlock[] {
  if (typeof content === 'string') return content.trim() === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) return [];
  const blocks: ConverseBlock[] = [];
  content.forEach((part, j) => {
    if (part.type === 'text' && typeof part.text === 'string') {
      if (part.text.trim() !== '') blocks.push({ text: part.text });
    } else if (part.type === 'image_url') {
      blocks.push(imageBlock(part.image_url, `${where}[${j}].image_url`));
    } else {
      throw invalidRequest(`${where}[${j}]: Bedrock takes text and image parts, not "${part.type}".`, `${where}[${j}]`, 'unsupported_content');
    }
  });
  return blocks;
}

function imageBlock(imageUrl: unknown, where: string): ConverseBlock {
  const url = typeof imageUrl === 'string' ? imageUrl : isRecord(imageUrl) && typeof imageUrl.url === 'string' ? imageUrl.url : '';
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (!match) {
    throw invalidRequest(
      `${where}: Bedrock needs images inline, as a base64 data: URL (data:image/png;base64,...); it does not fetch image URLs.`,
      where,
      'unsupported_image_url',
    );
  }
  const format = imageFormats[match[1].toLowerCase()];
  if (!format) throw invalidRequest(`${where}: Bedrock takes png, jpeg, gif and webp images, not ${match[1]}.`, where, 'unsupported_image_format');
  return { image: { format, source: { bytes: match[2] } } };
}

function toolUseOf(call: { id: string; type: string; [key: string]: unknown }, where: string): { toolUseId: string; name: string; input: unknown } {
  const fn = isRecord(call.function) ? call.function : {};
  if (typeof fn.name !== 'string') throw invalidRequest(`${where}.function.name is required.`, `${where}.function.name`, 'missing_required_parameter');
  const args = typeof fn.arguments === 'string' && fn.arguments.trim() !== '' ? fn.arguments : '{}';
  let input: unknown;
  try {
    input = JSON.parse(args);
  } catch {
    throw invalidRequest(`${where}.function.arguments must be a JSON object for Bedrock.`, `${where}.function.arguments`, 'invalid_tool_arguments');
  }
  return { toolUseId: call.id, name: fn.name, input };
}

function inferenceConfig(request: ChatRequest): ConverseRequest['inferenceConfig'] {
  const config: NonNullable<ConverseRequest['inferenceConfig']> = {};
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (typeof maxTokens === 'number') config.maxTokens = maxTokens;
  if (typeof request.temperature === 'number') config.temperature = request.temperature;
  if (typeof request.top_p === 'number') config.topP = request.top_p;
  const stop = request.stop;
  if (typeof stop === 'string') config.stopSequences = [stop];
  else if (Array.isArray(stop) && stop.length > 0) config.stopSequences = stop.filter((s): s is string => typeof s === 'string');
  return Object.keys(config).length > 0 ? config : undefined;
}

function toolConfig(request: ChatRequest): ConverseRequest['toolConfig'] {
  const choice = request.tool_choice;
  if (!request.tools || request.tools.length === 0 || choice === 'none') return undefined;
  const tools = request.tools.map((tool, i) => {
    const fn = isRecord(tool.function) ? tool.function : undefined;
    if (tool.type !== 'function' || !fn || typeof fn.name !== 'string') {
      throw invalidRequest(`tools[${i}]: Bedrock takes function tools only.`, `tools[${i}]`, 'unsupported_tool');
    }
    const spec: { name: string; description?: string; inputSchema: { json: unknown } } = {
      name: fn.name,
      inputSchema: { json: fn.parameters ?? { type: 'object', properties: {} } },
    };
    if (typeof fn.description === 'string' && fn.description !== '') spec.description = fn.description;
    return { toolSpec: spec };
  });
  const config: NonNullable<ConverseRequest['toolConfig']> = { tools };
  if (choice === 'auto') config.toolChoice = { auto: {} };
  else if (choice === 'required') config.toolChoice = { any: {} };
  else if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') config.toolChoice = { tool: { name: choice.function.name } };
  return config;
}

// ---------------------------------------------------------------- response

const converseUsageSchema = z.looseObject({
  inputTokens: z.number(),
  outputTokens: z.number(),
  totalTokens: z.number().optional(),
  cacheReadInputTokens: z.number().nullish(),
  cacheWriteInputTokens: z.number().nullish(),
});
type ConverseUsage = z.infer<typeof converseUsageSchema>;

const toolUseSchema = z.looseObject({ toolUseId: z.string(), name: z.string(), input: z.unknown() });

export const converseResponseSchema = z.looseObject({
  output: z.looseObject({
    message: z.looseObject({
      role: z.string(),
      content: z.array(z.looseObject({ text: z.string().optional(), toolUse: toolUseSchema.optional() })),
    }),
  }),
  stopReason: z.string(),
  usage: converseUsageSchema.optional(),
});
export type ConverseResponse = z.infer<typeof converseResponseSchema>;

/** What the adapter knows that Bedrock's answer does not carry. */
export interface AnswerMeta {
  id: string;
  model: string;
  created: number;
}

const finishReasons: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
};

export function finishReason(stopReason: string): string {
  return finishReasons[stopReason] ?? 'stop';
}

/** Bedrock counts cached input apart from inputTokens; OpenAI's prompt_tokens includes it. */
export function toUsage(usage: ConverseUsage): Usage {
  const cacheRead = usage.cacheReadInputTokens ?? 0;
  const prompt = usage.inputTokens + cacheRead + (usage.cacheWriteInputTokens ?? 0);
  const out: Usage = {
    prompt_tokens: prompt,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.totalTokens ?? prompt + usage.outputTokens,
  };
  if (usage.cacheReadInputTokens != null) out.prompt_tokens_details = { cached_tokens: cacheRead };
  return out;
}

export function toChatCompletion(response: ConverseResponse, meta: AnswerMeta): ChatCompletion {
  const texts: string[] = [];
  const toolCalls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] = [];
  for (const block of response.output.message.content) {
    if (typeof block.text === 'string') texts.push(block.text);
    if (block.toolUse) {
      toolCalls.push({ id: block.toolUse.toolUseId, type: 'function', function: { name: block.toolUse.name, arguments: JSON.stringify(block.toolUse.input ?? {}) } });
    }
  }
  const message: Record<string, unknown> = { role: 'assistant', content: texts.length > 0 ? texts.join('') : null };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const completion: ChatCompletion = {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(response.stopReason) }],
  };
  if (response.usage) completion.usage = toUsage(response.usage);
  return completion;
}

// ---------------------------------------------------------------- stream

const blockStartSchema = z.looseObject({
  contentBlockIndex: z.number(),
  start: z.looseObject({ toolUse: z.looseObject({ toolUseId: z.string(), name: z.string() }).optional() }).optional(),
});
const blockDeltaSchema = z.looseObject({
  contentBlockIndex: z.number(),
  delta: z.looseObject({ text: z.string().optional(), toolUse: z.looseObject({ input: z.string() }).optional() }),
});
const messageStopSchema = z.looseObject({ stopReason: z.string() });
const metadataSchema = z.looseObject({ usage: converseUsageSchema.optional() });

/**
 * Turns ConverseStream events, in order, into chat.completion.chunk objects: the role first, text
 * and tool-call deltas (tool calls numbered in the order they start), the finish reason at
 * messageStop, and a usage chunk with no choices from metadata.
 */
export class ConverseStreamTranslator {
  /** True once messageStop and metadata have both arrived: the stream is complete. */
  complete = false;
  private readonly meta: AnswerMeta;
  private roleSent = false;
  private stopped = false;
  private measured = false;
  private readonly toolIndexByBlock = new Map<number, number>();

  constructor(meta: AnswerMeta) {
    this.meta = meta;
  }

  /** The chunks one event amounts to; events it does not know (reasoning, citations, …) give none. */
  event(type: string, payload: unknown): ChatChunk[] {
    const out: ChatChunk[] = [];
    if (!this.roleSent) {
      this.roleSent = true;
      out.push(this.chunk({ role: 'assistant', content: '' }));
    }
    switch (type) {
      case 'contentBlockStart': {
        const start = blockStartSchema.safeParse(payload);
        const toolUse = start.success ? start.data.start?.toolUse : undefined;
        if (start.success && toolUse) {
          const index = this.toolIndex(start.data.contentBlockIndex);
          out.push(this.chunk({ tool_calls: [{ index, id: toolUse.toolUseId, type: 'function', function: { name: toolUse.name, arguments: '' } }] }));
        }
        break;
      }
      case 'contentBlockDelta': {
        const parsed = blockDeltaSchema.safeParse(payload);
        if (!parsed.success) break;
        const { delta, contentBlockIndex } = parsed.data;
        if (typeof delta.text === 'string' && delta.text !== '') out.push(this.chunk({ content: delta.text }));
        if (delta.toolUse && delta.toolUse.input !== '') {
          out.push(this.chunk({ tool_calls: [{ index: this.toolIndex(contentBlockIndex), function: { arguments: delta.toolUse.input } }] }));
        }
        break;
      }
      case 'messageStop': {
        const parsed = messageStopSchema.safeParse(payload);
        this.stopped = true;
        this.complete = this.measured;
        out.push(this.chunk({}, finishReason(parsed.success ? parsed.data.stopReason : 'end_turn')));
        break;
      }
      case 'metadata': {
        const parsed = metadataSchema.safeParse(payload);
        const usage = parsed.success ? parsed.data.usage : undefined;
        if (usage) out.push({ id: this.meta.id, object: 'chat.completion.chunk', created: this.meta.created, model: this.meta.model, choices: [], usage: toUsage(usage) });
        this.measured = true;
        this.complete = this.stopped;
        break;
      }
    }
    return out;
  }

  private toolIndex(block: number): number {
    let index = this.toolIndexByBlock.get(block);
    if (index === undefined) {
      index = this.toolIndexByBlock.size;
      this.toolIndexByBlock.set(block, index);
    }
    return index;
  }

  private chunk(delta: Record<string, unknown>, finish: string | null = null): ChatChunk {
    return {
      id: this.meta.id,
      object: 'chat.completion.chunk',
      created: this.meta.created,
      model: this.meta.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
  }
}

// ---------------------------------------------------------------- errors

/**
 * Bedrock's exceptions as the statuses routing classifies: ModelNotReadyException is a 429 from
 * Bedrock but means the model is still loading, so it reads as overloaded (503), not as a rate
 * limit on the key; a model-side stream error is retryable (500), not Bedrock's 424.
 */
const statusByException: Record<string, number> = {
  ThrottlingException: 429,
  ServiceQuotaExceededException: 429,
  ModelNotReadyException: 503,
  ServiceUnavailableException: 503,
  InternalServerException: 500,
  ModelStreamErrorException: 500,
  ModelErrorException: 502,
  ValidationException: 400,
  AccessDeniedException: 403,
  ResourceNotFoundException: 404,
  ModelTimeoutException: 408,
};

const contextLengthPattern = /input is too long|too many (input )?tokens|prompt is too long|context (length|window)/i;

export interface BedrockFailure {
  status: number;
  /** Bedrock's exception name, e.g. ThrottlingException. */
  exception: string | undefined;
  body: { error: OpenAIError };
}

/**
 * An error as routing reads it. `errorType` is the `x-amzn-errortype` header
 * ("ThrottlingException:http://internal.amazon.com/coral/…") or a stream's `:exception-type`
 * ("throttlingException"); `payload` is Bedrock's `{message}`.
 */
export function toFailure(errorType: string | undefined, fallbackStatus: number, payload: unknown): BedrockFailure {
  const bare = errorType?.split(':')[0].trim();
  const exception = bare ? bare.charAt(0).toUpperCase() + bare.slice(1) : undefined;
  const status = (exception && statusByException[exception]) || fallbackStatus;
  const raw = isRecord(payload) ? (payload.message ?? payload.Message) : typeof payload === 'string' ? payload : undefined;
  const message = typeof raw === 'string' && raw !== '' ? raw.slice(0, 1000) : `Bedrock answered ${exception ?? status}`;
  const code = exception === 'ValidationException' && contextLengthPattern.test(message) ? 'context_length_exceeded' : (exception ?? null);
  return { status, exception, body: { error: { message, type: errorTypeFor(status), param: null, code } } };
}
