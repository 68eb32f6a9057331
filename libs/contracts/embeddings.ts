// The canonical embeddings shape: OpenAI's /v1/embeddings. Unknown fields pass through.
import { z } from 'zod';
import { usageSchema } from './chat.ts';

const tokens = z.array(z.number().int().min(0));

export const embeddingsRequestSchema = z.looseObject({
  model: z.string().min(1, 'model must be a non-empty string'),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1, 'input must not be an empty array'),
    tokens.min(1, 'input must not be an empty array'),
    z.array(tokens.min(1)).min(1, 'input must not be an empty array'),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().optional(),
  user: z.string().optional(),
  fallbacks: z.array(z.string().min(1)).optional(),
});
export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;

export const embeddingsResponseSchema = z.looseObject({
  object: z.literal('list'),
  data: z.array(z.looseObject({ object: z.literal('embedding'), index: z.number().int(), embedding: z.union([z.array(z.number()), z.string()]) })),
  model: z.string(),
  usage: usageSchema.partial({ completion_tokens: true }).optional(),
});
export type EmbeddingsResponse = z.infer<typeof embeddingsResponseSchema>;

/** An embedding as OpenAI's base64 encoding: the float32 values, little-endian. */
export function embeddingToBase64(values: readonly number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

/** The response with every float-array embedding in the encoding the client asked for. */
export function encodeEmbeddings(response: EmbeddingsResponse, format: 'float' | 'base64' | undefined): EmbeddingsResponse {
  if (format !== 'base64') return response;
  return { ...response, data: response.data.map((d) => (typeof d.embedding === 'string' ? d : { ...d, embedding: embeddingToBase64(d.embedding) })) };
}
