// Sums the snapshots of every live process into one picture: totals, per-second rates and latency
// percentiles. A rate is each process's own increase across a window of its snapshots, divided by
// that window's length, then summed over processes: a process seen once so far adds to the totals
// but not yet to the rates, and one that stopped publishing drops out of both.
import { quantile } from './quantile.ts';
import type { LabelledTotal, Snapshot } from './snapshot.ts';

/** Each live process's recent snapshots, oldest first, by instance. */
export type History = ReadonlyMap<string, readonly Snapshot[]>;

export interface Rated {
  labels: [string, string, string];
  total: number;
  perSecond: number;
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** Observations the percentiles are taken over. */
  observations: number;
}

export interface Sample {
  at: number;
  instances: { instance: string; roles: string[]; startedAt: number; at: number }[];
  requests: Rated[];
  attempts: Rated[];
  fallbacks: Rated[];
  /** Over every target. */
  latency: Percentiles;
  /** By target, `provider/model`. */
  latencyByTarget: Record<string, Percentiles>;
}

export interface Windows {
  /** Rates are the increase over about this long. */
  rateMs: number;
  /** Percentiles are over the observations of about this long. */
  latencyMs: number;
}

/** The history with the fresh snapshots added; processes not among them are forgotten. */
export function remember(history: History, fresh: readonly Snapshot[], keepMs: number): Map<string, Snapshot[]> {
  const next = new Map<string, Snapshot[]>();
  for (const snapshot of fresh) {
    // A restarted process publishes under a new instance id; a changed start means the same.
    const earlier = (history.get(snapshot.instance) ?? []).filter((s) => s.startedAt === snapshot.startedAt && s.at < snapshot.at);
    const last = earlier[earlier.length - 1];
    const list = last?.at === snapshot.at ? earlier : [...earlier, snapshot];
    const newest = list[list.length - 1].at;
    // Keep one snapshot older than keepMs, so a full window always has a base.
    while (list.length > 2 && list[1].at <= newest - keepMs) list.shift();
    next.set(snapshot.instance, list);
  }
  return next;
}

/** The snapshot a window of windowMs ends at the newest one starts from: the latest that old, else the oldest. */
export function baseOf(list: readonly Snapshot[], windowMs: number): Snapshot | undefined {
  if (list.length < 2) return undefined;
  const newest = list[list.length - 1];
  let base = list[0];
  for (const s of list.slice(0, -1)) if (s.at <= newest.at - windowMs) base = s;
  return base;
}

export function summarize(history: History, windows: Windows, now: number): Sample {
  const requests = new Accumulator();
  const attempts = new Accumulator();
  const fallbacks = new Accumulator();
  const latency = new LatencyAccumulator();
  const instances: Sample['instances'] = [];
  for (const list of history.values()) {
    const newest = list[list.length - 1];
    if (!newest) continue;
    instances.push({ instance: newest.instance, roles: newest.roles, startedAt: newest.startedAt, at: newest.at });
    const rateBase = baseOf(list, windows.rateMs);
    requests.add(newest.requests, rateBase?.requests, rateBase && newest.at - rateBase.at);
    attempts.add(newest.attempts, rateBase?.attempts, rateBase && newest.at - rateBase.at);
    fallbacks.add(newest.fallbacks, rateBase?.fallbacks, rateBase && newest.at - rateBase.at);
    const latencyBase = baseOf(list, windows.latencyMs);
    if (latencyBase) latency.add(newest.latency, latencyBase.latency);
  }
  instances.sort((a, b) => a.instance.localeCompare(b.instance));
  return { at: now, instances, requests: requests.rows(), attempts: attempts.rows(), fallbacks: fallbacks.rows(), latency: latency.overall(), latencyByTarget: latency.byTarget() };
}

class Accumulator {
  private readonly byKey = new Map<string, Rated>();

  add(newest: readonly LabelledTotal[], base: readonly LabelledTotal[] | undefined, spanMs: number | undefined): void {
    const before = new Map((base ?? []).map((row) => [keyOf(row), row[3]]));
    for (const row of newest) {
      const key = keyOf(row);
      const entry = this.byKey.get(key) ?? { labels: [row[0], row[1], row[2]], total: 0, perSecond: 0 };
      entry.total += row[3];
      if (base && spanMs && spanMs > 0) entry.perSecond += Math.max(0, row[3] - (before.get(key) ?? 0)) / (spanMs / 1000);
      this.byKey.set(key, entry);
    }
  }

  rows(): Rated[] {
    return [...this.byKey.values()].sort((a, b) => b.total - a.total || keyOf(a.labels).localeCompare(keyOf(b.labels)));
  }
}

class LatencyAccumulator {
  private bounds: readonly number[] | undefined;
  private readonly targets = new Map<string, number[]>();

  add(newest: Snapshot['latency'], base: Snapshot['latency']): void {
    // A process that has called no upstream (an ingest node) has no buckets at all: nothing to add.
    if (newest.targets.length === 0) return;
    // Every process runs the same code, so the same buckets; a mismatch (a mixed-version rollout) is left out.
    this.bounds ??= newest.bounds;
    if (!sameBounds(this.bounds, newest.bounds) || (base.targets.length > 0 && !sameBounds(newest.bounds, base.bounds))) return;
    for (const t of newest.targets) {
      const id = `${t.provider}/${t.model}`;
      const earlier = base.targets.find((b) => b.provider === t.provider && b.model === t.model)?.buckets;
      const sum = this.targets.get(id) ?? new Array<number>(t.buckets.length).fill(0);
      t.buckets.forEach((n, i) => (sum[i] += Math.max(0, n - (earlier?.[i] ?? 0))));
      this.targets.set(id, sum);
    }
  }

  byTarget(): Record<string, Percentiles> {
    return Object.fromEntries([...this.targets].map(([id, buckets]) => [id, this.percentiles(buckets)]));
  }

  overall(): Percentiles {
    const all = [...this.targets.values()];
    const sum = new Array<number>((this.bounds?.length ?? 0) + 1).fill(0);
    for (const buckets of all) buckets.forEach((n, i) => (sum[i] += n));
    return this.percentiles(sum);
  }

  private percentiles(buckets: readonly number[]): Percentiles {
    const bounds = this.bounds ?? [];
    return { p50: quantile(0.5, bounds, buckets), p95: quantile(0.95, bounds, buckets), p99: quantile(0.99, bounds, buckets), observations: buckets[bounds.length] ?? 0 };
  }
}

function keyOf(row: readonly string[] | LabelledTotal): string {
  return `${row[0]}\u0000${row[1]}\u0000${row[2]}`;
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
