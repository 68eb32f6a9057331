// Exponential backoff with full jitter: the wait before retry n (0-based) is drawn uniformly from
// [0, min(max, initial · 2^n)], so retrying clients spread out instead of arriving in step.
import type { Random } from './random-source.ts';

export interface BackoffRule {
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/** The ceiling full jitter draws below for retry `retryIndex` (0 for the first retry). */
export function backoffCeiling(retryIndex: number, rule: BackoffRule): number {
  if (rule.initialBackoffMs <= 0 || rule.maxBackoffMs <= 0) return 0;
  // Past 2^40 every sane ceiling is already clamped; stopping there keeps the arithmetic finite.
  const exponent = Math.min(Math.max(0, Math.floor(retryIndex)), 40);
  return Math.min(rule.maxBackoffMs, rule.initialBackoffMs * 2 ** exponent);
}

/** Whole milliseconds in [0, ceiling]. */
export function backoffDelay(retryIndex: number, rule: BackoffRule, random: Random): number {
  const ceiling = backoffCeiling(retryIndex, rule);
  return Math.min(ceiling, Math.floor(random() * (ceiling + 1)));
}
