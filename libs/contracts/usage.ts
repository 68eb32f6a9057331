// The usage event: what one finished request used and cost, written by the worker to
// <prefix>.usage beside its result. Budgets are counted from it, once per request id.
import { z } from 'zod';

export const usageEventSchema = z.object({
  v: z.literal(1),
  /** The request id: counting is deduplicated on it, so a redelivered event is not counted twice. */
  id: z.string().min(1),
  /** When the request completed (unix ms): the budget period it counts in. */
  at: z.number().int(),
  /** The client key id, and the team and customer it belonged to when the request was accepted. */
  key: z.string().min(1),
  team: z.string().min(1).optional(),
  customer: z.string().min(1).optional(),
  provider: z.string().optional(),
  model: z.string().optional(),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  /** Prompt tokens the provider served from its cache (part of promptTokens). */
  cachedTokens: z.number().int().nonnegative(),
  /** The cost from the price table, in micro-USD; null when no price covers the model (counted as 0). */
  costMicroUsd: z.number().int().nonnegative().nullable(),
  /** The batch it belonged to, if any. */
  batchId: z.string().optional(),
});
export type UsageEvent = z.infer<typeof usageEventSchema>;
