// The OpenAI Batch API's batch object, as stored and as answered, and the reference a request
// envelope carries to the batch (and input line) it came from.
import { z } from 'zod';

/** The batch and input line a request came from; copied into its result. */
export const batchRefSchema = z.object({
  id: z.string().min(1),
  /** The input line's `custom_id`. */
  customId: z.string(),
});
export type BatchRef = z.infer<typeof batchRefSchema>;

export const batchEndpoints = ['/v1/chat/completions', '/v1/embeddings'] as const;
export type BatchEndpoint = (typeof batchEndpoints)[number];

export const batchStatusSchema = z.enum(['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled']);
export type BatchStatus = z.infer<typeof batchStatusSchema>;

/** Statuses a batch never leaves. */
export const finalBatchStatuses: readonly BatchStatus[] = ['failed', 'completed', 'expired', 'cancelled'];

export const batchErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  /** 1-based line of the input file, when the error is about one. */
  line: z.number().int().nullable(),
  param: z.string().nullable(),
});
export type BatchError = z.infer<typeof batchErrorSchema>;

const seconds = z.number().int().nullable();

export const batchSchema = z.object({
  id: z.string(),
  object: z.literal('batch'),
  endpoint: z.enum(batchEndpoints),
  errors: z.object({ object: z.literal('list'), data: z.array(batchErrorSchema) }).nullable(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: batchStatusSchema,
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
  created_at: z.number().int(),
  in_progress_at: seconds,
  expires_at: seconds,
  finalizing_at: seconds,
  completed_at: seconds,
  failed_at: seconds,
  expired_at: seconds,
  cancelling_at: seconds,
  cancelled_at: seconds,
  request_counts: z.object({ total: z.number().int(), completed: z.number().int(), failed: z.number().int() }),
  metadata: z.record(z.string(), z.string()).nullable(),
});
export type Batch = z.infer<typeof batchSchema>;

/** What one finished request adds to its batch: counted once per custom_id, and one line of the output or error file. */
export interface BatchLineOutcome {
  customId: string;
  /** `cancelled`, `expired`: never run (the batch was cancelled, or its window passed); not counted as failed. */
  kind: 'completed' | 'failed' | 'cancelled' | 'expired';
  file: 'output' | 'error';
  line: string;
}
