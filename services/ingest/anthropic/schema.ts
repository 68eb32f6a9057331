// The Anthropic Messages wire format as the gateway accepts and answers it. Fields the gateway
// cannot carry to an OpenAI-shaped provider (cache_control, citations, top_k, thinking, …) are
// accepted and stripped; content it cannot represent is refused by name.
import { z } from 'zod';

const textBlockSchema = z.object({ type: z.literal('text'), text: z.string() });

const imageSourceSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('base64'),
    media_type: z.enum(['image/jpeg', 'image/png', 'image/gif', 'image/webp']),
    data: z.string().min(1),
  }),
  z.object({ type: z.literal('url'), url: z.string().min(1) }),
]);

const imageBlockSchema = z.object({ type: z.literal('image'), source: imageSourceSchema });

const toolUseBlockSchema = z.object({
  type: z.literal('tool_use'),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
});

const toolResultBlockSchema = z.object({
  type: z.literal('tool_result'),
  tool_use_id: z.string().min(1),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textBlockSchema, imageBlockSchema]))]).optional(),
  is_error: z.boolean().optional(),
});

// Thinking blocks come back in the history Anthropic clients resend; no OpenAI-shaped provider
// can take them, so they are accepted here and dropped in translation.
const thinkingBlockSchema = z.object({ type: z.literal('thinking'), thinking: z.string() });
const redactedThinkingBlockSchema = z.object({ type: z.literal('redacted_thinking'), data: z.string() });

const userBlockSchema = z.discriminatedUnion('type', [textBlockSchema, imageBlockSchema, toolResultBlockSchema]);
const assistantBlockSchema = z.discriminatedUnion('type', [textBlockSchema, toolUseBlockSchema, thinkingBlockSchema, redactedThinkingBlockSchema]);

const messageParamSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('user'), content: z.union([z.string(), z.array(userBlockSchema).min(1)]) }),
  z.object({ role: z.literal('assistant'), content: z.union([z.string(), z.array(assistantBlockSchema)]) }),
]);

const toolSchema = z.object({
  // Checked first, so a server tool (web_search_…, bash_…) is refused for what it is.
  type: z.string().refine((t) => t === 'custom', 'expected "custom"; server tools are not supported on this gateway').optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  input_schema: z.looseObject({}),
});

const parallel = { disable_parallel_tool_use: z.boolean().optional() };
const toolChoiceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auto'), ...parallel }),
  z.object({ type: z.literal('any'), ...parallel }),
  z.object({ type: z.literal('tool'), name: z.string().min(1), ...parallel }),
  z.object({ type: z.literal('none') }),
]);

export const anthropicRequestSchema = z.object({
  model: z.string().min(1),
  max_tokens: z.number().int().min(1),
  messages: z.array(messageParamSchema).min(1),
  system: z.union([z.string(), z.array(textBlockSchema)]).nullish(),
  stop_sequences: z.array(z.string()).nullish(),
  temperature: z.number().min(0).max(1).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  tools: z.array(toolSchema).nullish(),
  tool_choice: toolChoiceSchema.nullish(),
  metadata: z.object({ user_id: z.string().nullish() }).nullish(),
  stream: z.boolean().nullish(),
  /** Spillway's own extension, as on the OpenAI surface: models to fall back to, in order. */
  fallbacks: z.array(z.string().min(1)).optional(),
});
export type AnthropicRequest = z.infer<typeof anthropicRequestSchema>;
export type AnthropicMessageParam = z.infer<typeof messageParamSchema>;
export type AnthropicImageSource = z.infer<typeof imageSourceSchema>;

export const stopReasonSchema = z.enum(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal']);
export type StopReason = z.infer<typeof stopReasonSchema>;

export const anthropicUsageSchema = z.object({
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cache_read_input_tokens: z.number().int().optional(),
});
export type AnthropicUsage = z.infer<typeof anthropicUsageSchema>;

export const contentBlockSchema = z.discriminatedUnion('type', [
  textBlockSchema,
  z.object({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.record(z.string(), z.unknown()) }),
]);
export type ContentBlock = z.infer<typeof contentBlockSchema>;

export const anthropicMessageSchema = z.object({
  id: z.string(),
  type: z.literal('message'),
  role: z.literal('assistant'),
  model: z.string(),
  content: z.array(contentBlockSchema),
  stop_reason: stopReasonSchema.nullable(),
  stop_sequence: z.string().nullable(),
  usage: anthropicUsageSchema,
});
export type AnthropicMessage = z.infer<typeof anthropicMessageSchema>;

export const anthropicErrorBodySchema = z.object({
  type: z.literal('error'),
  error: z.object({ type: z.string(), message: z.string() }),
  request_id: z.string().optional(),
});
export type AnthropicErrorBody = z.infer<typeof anthropicErrorBodySchema>;
