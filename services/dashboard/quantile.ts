// A quantile from cumulative histogram buckets, estimated as Prometheus's histogram_quantile does:
// linear within the bucket the rank falls in; in the +Inf bucket, the highest finite bound.

/**
 * `bounds` are the finite upper bounds, ascending; `cumulative` holds the count at or below each
 * bound and then the total (+Inf). Null when nothing was observed.
 */
export function quantile(q: number, bounds: readonly number[], cumulative: readonly number[]): number | null {
  const total = cumulative[bounds.length] ?? 0;
  if (total <= 0 || bounds.length === 0) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    const atBound = cumulative[i] ?? 0;
    if (atBound < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1];
    const below = i === 0 ? 0 : (cumulative[i - 1] ?? 0);
    const inBucket = atBound - below;
    return inBucket <= 0 ? bounds[i] : lower + (bounds[i] - lower) * ((rank - below) / inBucket);
  }
  return bounds[bounds.length - 1];
}
