// What one process tells the dashboard every few seconds: the running totals of its request,
// attempt and fallback counters and its upstream latency histogram, read off its own Prometheus
// registry. Totals, not rates: the dashboard takes rates from successive snapshots, so a missed
// publish costs resolution, not counts.
import { z } from 'zod';
import type { Metrics } from '#libs/telemetry/metrics.ts';

const count = z.number().nonnegative();
/** Three label values, then the counter's total. */
const labelledTotal = z.tuple([z.string(), z.string(), z.string(), count]);
export type LabelledTotal = z.infer<typeof labelledTotal>;

export const snapshotSchema = z.object({
  instance: z.string(),
  /** The services this process runs (ingest, worker, results). */
  roles: z.array(z.string()),
  /** Epoch ms the process began counting: its totals are since then. */
  startedAt: z.number(),
  /** Epoch ms the totals were read. */
  at: z.number(),
  /** spillway_requests_total: provider, model (of the last attempt), outcome. */
  requests: z.array(labelledTotal),
  /** spillway_upstream_attempts_total: provider, model, failure class ('none' for a success). */
  attempts: z.array(labelledTotal),
  /** spillway_fallbacks_total: from target, to target, reason. */
  fallbacks: z.array(labelledTotal),
  /** spillway_upstream_latency_seconds: the bucket bounds, and per target the cumulative count at each bound, +Inf last. */
  latency: z.object({
    bounds: z.array(z.number()),
    targets: z.array(z.object({ provider: z.string(), model: z.string(), buckets: z.array(count) })),
  }),
});
export type Snapshot = z.infer<typeof snapshotSchema>;

export interface Identity {
  instance: string;
  roles: string[];
  startedAt: number;
}

type Labels = Partial<Record<string, string | number>>;

export async function takeSnapshot(metrics: Metrics, identity: Identity, now: number): Promise<Snapshot> {
  const [requests, attempts, fallbacks, latency] = await Promise.all([metrics.requests.get(), metrics.attempts.get(), metrics.fallbacks.get(), metrics.upstreamLatency.get()]);
  const totals = (values: { labels: Labels; value: number }[], names: [string, string, string]): LabelledTotal[] =>
    values.filter((v) => v.value > 0).map((v) => [label(v.labels, names[0]), label(v.labels, names[1]), label(v.labels, names[2]), v.value]);
  return {
    ...identity,
    at: now,
    requests: totals(requests.values, ['provider', 'model', 'outcome']),
    attempts: totals(attempts.values, ['provider', 'model', 'failure']),
    fallbacks: totals(fallbacks.values, ['from', 'to', 'reason']),
    latency: histogram(latency.values),
  };
}

function histogram(values: { labels: Labels; value: number; metricName?: string }[]): Snapshot['latency'] {
  const bounds = new Set<number>();
  const targets = new Map<string, { provider: string; model: string; at: Map<number, number> }>();
  for (const v of values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const provider = label(v.labels, 'provider');
    const model = label(v.labels, 'model');
    const key = `${provider}\u0000${model}`;
    const target = targets.get(key) ?? { provider, model, at: new Map<number, number>() };
    targets.set(key, target);
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    if (Number.isFinite(le)) bounds.add(le);
    target.at.set(le, v.value);
  }
  const sorted = [...bounds].sort((a, b) => a - b);
  return {
    bounds: sorted,
    targets: [...targets.values()]
      .filter((t) => (t.at.get(Infinity) ?? 0) > 0)
      .map((t) => ({ provider: t.provider, model: t.model, buckets: [...sorted, Infinity].map((le) => t.at.get(le) ?? 0) })),
  };
}

function label(labels: Labels, name: string): string {
  return String(labels[name] ?? '');
}
