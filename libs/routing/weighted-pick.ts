// Weighted random choice: each allowed candidate wins with probability weight / total weight.
import type { Random } from './random-source.ts';

/**
 * One candidate, or undefined when none is allowed. Candidates with a weight that is not a
 * positive finite number are never chosen. Deterministic for a given random source.
 */
export function weightedPick<T>(
  candidates: readonly T[],
  weightOf: (candidate: T) => number,
  random: Random,
  allowed: (candidate: T) => boolean = () => true,
): T | undefined {
  const eligible: { candidate: T; weight: number }[] = [];
  let total = 0;
  for (const candidate of candidates) {
    const weight = weightOf(candidate);
    if (!(weight > 0) || !Number.isFinite(weight) || !allowed(candidate)) continue;
    eligible.push({ candidate, weight });
    total += weight;
  }
  if (eligible.length === 0) return undefined;
  let point = random() * total;
  for (const entry of eligible) {
    point -= entry.weight;
    if (point < 0) return entry.candidate;
  }
  // Rounding can leave the point a hair above the last bucket; the last candidate owns it.
  return eligible[eligible.length - 1]?.candidate;
}
