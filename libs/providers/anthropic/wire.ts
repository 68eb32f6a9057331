// Anthropic's Messages API on the wire: the request body the adapter sends (types), and the
// response, stream events and error body it reads (zod, loose: fields Anthropic adds later pass).
import { z } from 'zod';

// ---------------------------------------------------------------- what the adapter sends

export interface TextBlock {
  type: 'text';
  text: string;
  cache_control?: unknown;
}

export interface ImageBlock {
  type: 'image';
  source: { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };
}

export interface DocumentBlock {
  type: 'document';
  source: { type: 'base64'; media_type: string; data: string };
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string | RequestBlock[];
}

/** A block the client sent in a form the adapter does not know; forwarded untouched. */
export interface OtherBlock {
  type: string;
  [key: string]: unknown;
}

export type RequestBlock = TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | OtherBlock;

export interface MessageParam {
  role: 'user' | 'assistant';
  content: string | RequestBlock[];
}

export interface ToolParam {
  name: string;
  description?: string;
  input_schema: unknown;
  [key: string]: unknown;
}

export type ToolChoiceParam =
  | { type: 'auto' | 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'none' }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean };

export interface MessagesRequest {
  model: string;
  max_tokens: number;
  messages: MessageParam[];
  system?: string | TextBlock[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
  tools?: (ToolParam | OtherBlock)[];
  tool_choice?: ToolChoiceParam;
  metadata?: { user_id: string };
  stream?: true;
}

// ---------------------------------------------------------------- what the adapter reads

export const usageSchema = z.looseObject({
  input_tokens: z.number().nullish(),
  cache_creation_input_tokens: z.number().nullish(),
  cache_read_input_tokens: z.number().nullish(),
  output_tokens: z.number().nullish(),
});
export type AnthropicUsage = z.infer<typeof usageSchema>;

const contentBlockSchema = z.looseObject({
  type: z.string(),
  text: z.string().optional(),
  id: z.string().optional(),
  name: z.string().optional(),
  input: z.unknown().optional(),
});

export const messageSchema = z.looseObject({
  id: z.string(),
  type: z.literal('message'),
  role: z.literal('assistant'),
  model: z.string(),
  content: z.array(contentBlockSchema),
  stop_reason: z.string().nullish(),
  usage: usageSchema,
});
export type AnthropicMessage = z.infer<typeof messageSchema>;

/** The stream events the adapter acts on; `ping` and event types Anthropic adds later are skipped. */
export const streamEventSchema = z.discriminatedUnion('type', [
  z.looseObject({
    type: z.literal('message_start'),
    message: z.looseObject({ id: z.string(), model: z.string(), usage: usageSchema }),
  }),
  z.looseObject({ type: z.literal('content_block_start'), index: z.number(), content_block: contentBlockSchema }),
  z.looseObject({
    type: z.literal('content_block_delta'),
    index: z.number(),
    delta: z.looseObject({ type: z.string(), text: z.string().optional(), partial_json: z.string().optional() }),
  }),
  z.looseObject({ type: z.literal('content_block_stop'), index: z.number() }),
  z.looseObject({
    type: z.literal('message_delta'),
    delta: z.looseObject({ stop_reason: z.string().nullish() }),
    usage: usageSchema.nullish(),
  }),
  z.looseObject({ type: z.literal('message_stop') }),
]);
export type StreamEvent = z.infer<typeof streamEventSchema>;
export const streamEventTypes: ReadonlySet<string> = new Set(streamEventSchema.options.map((o) => o.shape.type.value));

/** `{ type: 'error', error: { type, message }, request_id }`, as an HTTP body and as an `error` stream event. */
export const errorBodySchema = z.looseObject({
  error: z.looseObject({
    type: z.string(),
    message: z.string(),
    details: z.looseObject({ error_code: z.string().optional() }).nullish(),
  }),
});
