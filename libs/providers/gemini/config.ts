// Configuration of the two doors to Google's Gemini models: the Gemini API (API keys) and
// Vertex AI (a Google Cloud project, OAuth bearer tokens from Application Default Credentials
// or a service-account file).
import { z } from 'zod';
import { fromEnvString, keySchema } from '#libs/config/fields.ts';

export const geminiProviderSchema = z.object({
  type: z.literal('gemini'),
  baseUrl: z.url().default('https://generativelanguage.googleapis.com'),
  keys: z.array(keySchema).default([]),
  /** Model names (glob patterns allowed) this provider serves; used to resolve bare names. */
  models: z.array(z.string()).default([]),
  headers: z.record(z.string(), z.string()).default({}),
  /** Connection set-up limit for this provider; call timeouts come from the routing policy. */
  connectTimeoutMs: z.preprocess(fromEnvString, z.number().int().positive().optional()),
});

export const vertexProviderSchema = z.object({
  type: z.literal('vertex'),
  project: z.string().min(1, 'project must name a Google Cloud project'),
  /** A Vertex AI region, or "global" for the global endpoint. */
  location: z.string().regex(/^[a-z0-9-]+$/, 'location is a region such as "us-central1", or "global"').default('us-central1'),
  /** Replaces https://{location}-aiplatform.googleapis.com (a private endpoint, or a test fake). */
  baseUrl: z.url().optional(),
  /** A service-account JSON key file; without it Application Default Credentials are used. */
  credentialsFile: z.string().min(1).optional(),
  /** A fixed bearer token used instead of Google credentials (tests, or a token minted elsewhere). */
  accessToken: z.string().min(1).optional(),
  models: z.array(z.string()).default([]),
  headers: z.record(z.string(), z.string()).default({}),
  connectTimeoutMs: z.preprocess(fromEnvString, z.number().int().positive().optional()),
});

export type GeminiProviderConfig = z.infer<typeof geminiProviderSchema>;
export type VertexProviderConfig = z.infer<typeof vertexProviderSchema>;
