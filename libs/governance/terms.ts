// What a key's terms mean for one request: the subjects it is metered against (the key, its team,
// its customer), whether it may use a model, the fallbacks it brings, and the tokens it is
// reckoned to need before its usage is known.
import type { ChatRequest } from '#libs/contracts/chat.ts';
import type { EmbeddingsRequest } from '#libs/contracts/embeddings.ts';
import { messageText } from '#libs/providers/message-text.ts';
import { matchesModel } from '#libs/providers/model-pattern.ts';
import type { Customer, KeyRecord, Team } from './accounts.ts';
import type { Principal } from './directory.ts';
import type { MeteredSubject } from './meter.ts';

/** The levels of a principal, key first, each with its own terms. */
function levels(principal: Principal): { subject: string; terms: KeyRecord | Team | Customer }[] {
  const { key, team, customer } = principal;
  return [
    { subject: `key:${key.id}`, terms: key },
    ...(team ? [{ subject: `team:${team.id}`, terms: team }] : []),
    ...(customer ? [{ subject: `customer:${customer.id}`, terms: customer }] : []),
  ];
}

/** Every level with a limit or a budget, for the meter. */
export function meteredSubjects(principal: Principal): MeteredSubject[] {
  return levels(principal)
    .map(({ subject, terms }) => ({
      subject,
      rpm: terms.limits?.rpm,
      tpm: terms.limits?.tpm,
      budgets: (terms.budgets ?? []).map((b) => ({ period: b.period, microUsd: Math.round(b.usd * 1_000_000) })),
    }))
    .filter((s) => s.rpm !== undefined || s.tpm !== undefined || s.budgets.length > 0);
}

/** The subjects a request's spend is charged to: every level, limited or not, so spend is known. */
export function chargedSubjects(principal: { key: string; team?: string | undefined; customer?: string | undefined }): string[] {
  return [`key:${principal.key}`, ...(principal.team ? [`team:${principal.team}`] : []), ...(principal.customer ? [`customer:${principal.customer}`] : [])];
}

/** How a model may be named: itself, and also by its bare name when it is `provider/model` (registry.namesOf). */
export type ModelNames = (model: string) => string[];
const asGiven: ModelNames = (model) => [model];

/** The first level whose model list allows none of this model's (or alias's) names, or undefined when all allow it. */
export function modelRefusedBy(principal: Principal, model: string, namesOf: ModelNames = asGiven): string | undefined {
  const names = namesOf(model);
  return levels(principal).find(({ terms }) => terms.models !== undefined && !names.some((name) => matchesModel(terms.models ?? [], name)))?.subject;
}

/** The first of a request's models (its model, then its fallbacks) the key may not use, and why. */
export function disallowedModel(principal: Principal, models: string[], namesOf: ModelNames = asGiven): { model: string; index: number; message: string } | undefined {
  for (const [index, model] of models.entries()) {
    const refusedBy = modelRefusedBy(principal, model, namesOf);
    if (refusedBy !== undefined) return { model, index, message: `The model \`${model}\` is not allowed for this API key: ${refusedBy} does not list it in its models.` };
  }
  return undefined;
}

/** The key's own fallbacks for a model: its entry for the model, else its `*` entry. */
export function keyFallbacks(principal: Principal, model: string): string[] | undefined {
  const fallbacks = principal.key.fallbacks;
  return (fallbacks && Object.hasOwn(fallbacks, model) ? fallbacks[model] : undefined) ?? fallbacks?.['*'];
}

/**
 * Tokens a request is reckoned to use before its usage is known: its text at four characters a
 * token, plus the completion tokens it asks for at most. Corrected from actual usage afterwards.
 */
export function estimatedTokens(operation: 'chat' | 'embeddings', body: ChatRequest | EmbeddingsRequest): number {
  if (operation === 'embeddings') {
    const input = (body as EmbeddingsRequest).input;
    const inputs = Array.isArray(input) ? input : [input];
    return inputs.reduce<number>((sum, item) => sum + (typeof item === 'string' ? Math.ceil(item.length / 4) : Array.isArray(item) ? item.length : 1), 0);
  }
  const chat = body as ChatRequest;
  const chars = chat.messages.reduce((sum, message) => sum + messageText(message).length, 0);
  return Math.ceil(chars / 4) + (chat.max_completion_tokens ?? chat.max_tokens ?? 0) * (chat.n ?? 1);
}
