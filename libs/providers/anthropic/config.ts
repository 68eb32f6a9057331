// The `type: anthropic` provider entry of spillway.yaml: where the Messages API lives, its keys,
// the API version header, and the max_tokens Anthropic requires when a request gives none.
import { z } from 'zod';
import { fromEnvString, keySchema } from '#libs/config/fields.ts';

export const anthropicProviderSchema = z.object({
  type: z.literal('anthropic'),
  /** Without the /v1 suffix, as the Anthropic SDKs take it. */
  baseUrl: z.url().default('https://api.anthropic.com'),
  keys: z.array(keySchema).default([]),
  /** Model names (glob patterns allowed) this provider serves; used to resolve bare names. */
  models: z.array(z.string()).default([]),
  /** Sent with every call, e.g. `anthropic-beta`. */
  headers: z.record(z.string(), z.string()).default({}),
  /** Connection set-up limit for this provider; call timeouts come from the routing policy. */
  connectTimeoutMs: z.preprocess(fromEnvString, z.number().int().positive().optional()),
  /** The `anthropic-version` header. */
  version: z.string().min(1).default('2023-06-01'),
  /** Anthropic requires max_tokens; this is sent when the request sets neither max_tokens nor max_completion_tokens. */
  maxTokens: z.preprocess(fromEnvString, z.number().int().positive().default(4096)),
});

export type AnthropicConfig = z.infer<typeof anthropicProviderSchema>;
