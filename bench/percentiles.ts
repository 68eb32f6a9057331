// The statistics the benchmark reports: nearest-rank percentiles over one run, and the median over
// the interleaved pairs of runs (Spillway, floor) that tames a shared, noisy machine.

export const reportedPercentiles = [50, 90, 99, 100] as const;
export type Percentile = (typeof reportedPercentiles)[number];

export type Summary = Record<`p${Percentile}`, number> & { count: number };

export function percentileLabel(p: Percentile): `p${Percentile}` {
  return `p${p}`;
}

/** Nearest-rank percentile of an ascending array: the smallest value with at least p% of values at or below it. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0];
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(rank, sorted.length) - 1];
}

export function summarize(values: readonly number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  const list = Array.from(sorted);
  return {
    count: list.length,
    p50: percentile(list, 50),
    p90: percentile(list, 90),
    p99: percentile(list, 99),
    p100: percentile(list, 100),
  };
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return Number.NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface PairedPercentile {
  percentile: Percentile;
  /** Median over the pairs of the subject's percentile (Spillway). */
  subject: number;
  /** Median over the pairs of the baseline's percentile (the floor). */
  baseline: number;
  /** Median over the pairs of (subject − baseline), each pair taken on its own. */
  difference: number;
  /** Every pair's difference, in run order, so the spread is visible. */
  differences: number[];
}

/** Pairs are (subject, baseline) summaries of runs made back to back; the pair shares the machine's mood. */
export function comparePairs(pairs: ReadonlyArray<{ subject: Summary; baseline: Summary }>): PairedPercentile[] {
  return reportedPercentiles.map((p) => {
    const key = percentileLabel(p);
    const differences = pairs.map((pair) => pair.subject[key] - pair.baseline[key]);
    return {
      percentile: p,
      subject: median(pairs.map((pair) => pair.subject[key])),
      baseline: median(pairs.map((pair) => pair.baseline[key])),
      difference: median(differences),
      differences,
    };
  });
}

/** Client-observed latency minus what the upstream was told to take: what the path in between adds. */
export function subtractUpstream(summary: Summary, upstreamMs: number): Summary {
  return {
    count: summary.count,
    p50: summary.p50 - upstreamMs,
    p90: summary.p90 - upstreamMs,
    p99: summary.p99 - upstreamMs,
    p100: summary.p100 - upstreamMs,
  };
}
