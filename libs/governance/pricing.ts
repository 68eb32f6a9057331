// Prices usage from the `pricing` table: USD per million input, cached input and output tokens,
// looked up by `provider/model` first, then by model, exact names before globs.
import type { Config } from '#libs/config/schema.ts';
import { matchesModel } from '#libs/providers/model-pattern.ts';

export type PriceTable = Config['pricing'];
type Price = PriceTable[string];

export function priceOf(table: PriceTable, provider: string | undefined, model: string): Price | undefined {
  const names = provider !== undefined ? [`${provider}/${model}`, model] : [model];
  for (const name of names) if (Object.hasOwn(table, name)) return table[name];
  const patterns = Object.keys(table).filter((p) => p.includes('*'));
  for (const name of names) {
    const pattern = patterns.find((p) => matchesModel([p], name));
    if (pattern !== undefined) return table[pattern];
  }
  return undefined;
}

/** The cost in micro-USD (whole), or null when no price covers the model. */
export function costMicroUsd(table: PriceTable, provider: string | undefined, model: string, tokens: { prompt: number; completion: number; cached: number }): number | null {
  const price = priceOf(table, provider, model);
  if (!price) return null;
  const cached = Math.min(tokens.cached, tokens.prompt);
  // Prices are per million tokens, so USD per million × tokens is micro-USD.
  return Math.round((tokens.prompt - cached) * price.input + cached * (price.cachedInput ?? price.input) + tokens.completion * price.output);
}
