// A worker's part in budgets: the usage event it writes beside each answered request, and the
// budget check for requests no ingest admitted while a client waited (async, batch, WebSocket
// and Kafka-native ones), made just before a provider is paid for them.
import type { RequestEnvelope, ResultEnvelope } from '#libs/contracts/envelope.ts';
import type { UsageEvent } from '#libs/contracts/usage.ts';
import type { FailureResponse } from '#libs/routing/failure-response.ts';
import { costMicroUsd } from '#libs/governance/pricing.ts';
import { quotaMessage, spentBudget } from '#libs/governance/budget.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';

/** The usage event of an answered request, or undefined when it reports no usage. */
export function usageEventOf(runtime: Pick<Runtime, 'config' | 'auth'>, envelope: RequestEnvelope, result: ResultEnvelope): UsageEvent | undefined {
  const usage = result.usage;
  if (result.status !== 'succeeded' || !usage) return undefined;
  const key = envelope.owner ?? 'anonymous';
  const record = runtime.auth.keyById(key);
  const principal = record ? runtime.auth.principalOf(record) : undefined;
  const details = usage.prompt_tokens_details as { cached_tokens?: unknown } | undefined;
  const cached = typeof details?.cached_tokens === 'number' ? details.cached_tokens : 0;
  const model = result.model ?? envelope.route.model;
  const tokens = { prompt: usage.prompt_tokens, completion: usage.completion_tokens ?? 0, cached };
  const team = principal?.team?.id;
  const customer = principal?.customer?.id ?? record?.customer;
  return {
    v: 1,
    id: envelope.id,
    at: result.completedAt,
    key,
    ...(team !== undefined ? { team } : {}),
    ...(customer !== undefined ? { customer } : {}),
    ...(result.provider !== undefined ? { provider: result.provider } : {}),
    model,
    promptTokens: tokens.prompt,
    completionTokens: tokens.completion,
    cachedTokens: cached,
    costMicroUsd: costMicroUsd(runtime.config.pricing, result.provider, model, tokens),
    ...(envelope.batch ? { batchId: envelope.batch.id } : {}),
  };
}

/** The insufficient_quota answer for a request whose key, team or customer has spent its budget. */
export async function budgetRefusal(runtime: Pick<Runtime, 'auth' | 'meter'>, envelope: RequestEnvelope): Promise<FailureResponse | undefined> {
  // A client waiting at an ingest replica was admitted there a moment ago.
  if (envelope.reply.to !== undefined || envelope.owner === undefined) return undefined;
  const record = runtime.auth.keyById(envelope.owner);
  const over = record ? await spentBudget(runtime.meter, runtime.auth.principalOf(record)) : undefined;
  if (!over) return undefined;
  return {
    httpStatus: 429,
    error: { message: quotaMessage(over.subject, over.period), type: 'insufficient_quota', param: null, code: 'insufficient_quota' },
    headers: { 'x-should-retry': 'false' },
  };
}
