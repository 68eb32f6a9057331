// The `type: bedrock` provider entry in spillway.yaml. Credentials are either AWS keys for SigV4
// (given here, or else found by the standard AWS chain) or Bedrock API keys in `keys`.
import { z } from 'zod';
import { fromEnvString, keySchema } from '#libs/config/fields.ts';

export const bedrockProviderSchema = z.object({
  type: z.literal('bedrock'),
  /** AWS region of the Bedrock runtime endpoint and of the SigV4 signature, e.g. us-east-1. */
  region: z.string().min(1, 'region must name an AWS region, e.g. us-east-1'),
  /** Overrides https://bedrock-runtime.{region}.amazonaws.com (VPC endpoints, tests). */
  baseUrl: z.url().optional(),
  /** Static AWS credentials; without them SigV4 uses the standard AWS credential chain. */
  accessKeyId: z.string().min(1).optional(),
  secretAccessKey: z.string().min(1).optional(),
  sessionToken: z.string().min(1).optional(),
  /** Bedrock API keys, sent as `Authorization: Bearer`; when routing picks one, SigV4 is not used. */
  keys: z.array(keySchema).default([]),
  /** Model ids (glob patterns allowed) this provider serves, e.g. `anthropic.claude-*`. */
  models: z.array(z.string()).default([]),
  /** Connection set-up limit for this provider; call timeouts come from the routing policy. */
  connectTimeoutMs: z.preprocess(fromEnvString, z.number().int().positive().optional()),
}).refine((c) => (c.accessKeyId === undefined) === (c.secretAccessKey === undefined), {
  message: 'accessKeyId and secretAccessKey are given together or not at all',
  path: ['secretAccessKey'],
});

export type BedrockConfig = z.infer<typeof bedrockProviderSchema>;
