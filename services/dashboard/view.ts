// What the page is sent: one chart point per sample, and the tables of the moment (targets,
// failure classes, fallback routes, breakers and key cooldowns, consumer lag, running batches),
// built from a Sample, the shared health state, Kafka's offsets and the store's batches.
import type { ConsumerLag } from '#libs/bus/bus.ts';
import type { Batch, BatchStatus } from '#libs/contracts/batch.ts';
import { breakerStateSchema } from '#libs/routing/breaker.ts';
import { keyCooldownEntrySchema } from '#libs/routing/key-pool.ts';
import type { HealthUpdate } from '#libs/store/store.ts';
import type { Percentiles, Rated, Sample } from './rates.ts';

/** One moment of the charts; rates are per second, latencies in seconds. */
export interface Point {
  t: number;
  /** Requests finished, and those finished with anything but success. */
  requests: number;
  failed: number;
  /** Moves to another target (key rotations excluded). */
  fallbacks: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** Failed attempts by target. */
  targetFailures: Record<string, number>;
  /** Fallbacks by route, "from → to". */
  routes: Record<string, number>;
  /** Failed attempts by failure class. */
  classes: Record<string, number>;
  /** Consumer lag (messages) by "group · topic". */
  lag: Record<string, number>;
}

export interface TargetRow {
  target: string;
  attemptsPerSecond: number;
  failedPerSecond: number;
  /** Moves away from this target to another, per second. */
  fallbacksPerSecond: number;
  attempts: number;
  failed: number;
  fallbacks: number;
  latency: Percentiles | null;
  breaker: BreakerRow['state'] | null;
}

export interface BreakerRow {
  kind: 'target' | 'key';
  id: string;
  state: 'closed' | 'open' | 'half_open';
  since: number;
  consecutiveFailures: number;
  /** Outcomes in the breaker's rolling window. */
  windowFailures: number;
  windowRequests: number;
}

export interface CooldownRow {
  key: string;
  reason: 'rate_limited' | 'auth';
  until: number;
}

export interface BatchRow {
  id: string;
  status: BatchStatus;
  endpoint: string;
  createdAt: number;
  total: number;
  completed: number;
  failed: number;
}

export interface LagRow extends ConsumerLag {
  /** Group and topic without the deployment prefix, as the page shows them. */
  name: string;
}

/** Everything but the points: the state of the last sample. */
export interface Tables {
  instances: Sample['instances'];
  overview: {
    requestsPerSecond: number;
    failedPerSecond: number;
    fallbacksPerSecond: number;
    attemptsPerSecond: number;
    requests: number;
    failed: number;
    fallbacks: number;
    latency: Percentiles;
  };
  outcomes: { outcome: string; perSecond: number; total: number }[];
  targets: TargetRow[];
  failures: { failure: string; perSecond: number; total: number }[];
  fallbacks: { from: string; to: string; reason: string; perSecond: number; total: number }[];
  breakers: BreakerRow[];
  cooldowns: CooldownRow[];
  lag: LagRow[] | null;
  /** Why lag is missing (Kafka did not answer). */
  lagError: string | null;
  batches: BatchRow[];
}

export interface Inputs {
  sample: Sample;
  health: readonly HealthUpdate[];
  lag: readonly ConsumerLag[] | Error;
  batches: readonly Batch[];
  prefix: string;
  now: number;
}

const runningBatch: readonly BatchStatus[] = ['validating', 'in_progress', 'finalizing', 'cancelling'];

export function buildView(inputs: Inputs): { point: Point; tables: Tables } {
  const { sample, now } = inputs;
  const breakers = breakerRows(inputs.health);
  const lag = inputs.lag instanceof Error ? null : inputs.lag.map((l) => ({ ...l, name: `${unprefixed(l.groupId, inputs.prefix)} · ${unprefixed(l.topic, inputs.prefix)}` }));
  const failedRequests = sample.requests.filter((r) => r.labels[2] !== 'success');
  const moves = sample.fallbacks.filter((f) => f.labels[2] !== 'key_rotation');
  const failedAttempts = sample.attempts.filter((a) => a.labels[2] !== 'none');

  const point: Point = {
    t: sample.at,
    requests: sum(sample.requests, 'perSecond'),
    failed: sum(failedRequests, 'perSecond'),
    fallbacks: sum(moves, 'perSecond'),
    p50: sample.latency.p50,
    p95: sample.latency.p95,
    p99: sample.latency.p99,
    targetFailures: grouped(failedAttempts, (a) => `${a.labels[0]}/${a.labels[1]}`, 'perSecond'),
    routes: grouped(moves, (f) => `${f.labels[0]} → ${f.labels[1]}`, 'perSecond'),
    classes: grouped(failedAttempts, (a) => a.labels[2], 'perSecond'),
    // A group that never committed is likely not running here (webhooks off): no lag to chart.
    lag: Object.fromEntries((lag ?? []).filter((l) => l.committed).map((l) => [l.name, l.lag])),
  };

  const targetIds = new Set([...sample.attempts.map((a) => `${a.labels[0]}/${a.labels[1]}`), ...breakers.filter((b) => b.kind === 'target').map((b) => b.id)]);
  const targets: TargetRow[] = [...targetIds].sort().map((target) => {
    const mine = sample.attempts.filter((a) => `${a.labels[0]}/${a.labels[1]}` === target);
    const failed = mine.filter((a) => a.labels[2] !== 'none');
    const away = moves.filter((f) => f.labels[0] === target);
    return {
      target,
      attemptsPerSecond: sum(mine, 'perSecond'),
      failedPerSecond: sum(failed, 'perSecond'),
      fallbacksPerSecond: sum(away, 'perSecond'),
      attempts: sum(mine, 'total'),
      failed: sum(failed, 'total'),
      fallbacks: sum(away, 'total'),
      latency: sample.latencyByTarget[target] ?? null,
      breaker: breakers.find((b) => b.kind === 'target' && b.id === target)?.state ?? null,
    };
  });

  const tables: Tables = {
    instances: sample.instances,
    overview: {
      requestsPerSecond: point.requests,
      failedPerSecond: point.failed,
      fallbacksPerSecond: point.fallbacks,
      attemptsPerSecond: sum(sample.attempts, 'perSecond'),
      requests: sum(sample.requests, 'total'),
      failed: sum(failedRequests, 'total'),
      fallbacks: sum(moves, 'total'),
      latency: sample.latency,
    },
    outcomes: regroup(sample.requests, (r) => r.labels[2]).map(([outcome, rows]) => ({ outcome, perSecond: sum(rows, 'perSecond'), total: sum(rows, 'total') })),
    targets,
    failures: regroup(failedAttempts, (a) => a.labels[2]).map(([failure, rows]) => ({ failure, perSecond: sum(rows, 'perSecond'), total: sum(rows, 'total') })),
    fallbacks: sample.fallbacks.map((f) => ({ from: f.labels[0], to: f.labels[1], reason: f.labels[2], perSecond: f.perSecond, total: f.total })),
    breakers,
    cooldowns: cooldownRows(inputs.health, now),
    lag,
    lagError: inputs.lag instanceof Error ? inputs.lag.message : null,
    batches: inputs.batches
      .filter((b) => runningBatch.includes(b.status))
      .map((b) => ({ id: b.id, status: b.status, endpoint: b.endpoint, createdAt: b.created_at * 1000, ...b.request_counts })),
  };
  return { point, tables };
}

function breakerRows(health: readonly HealthUpdate[]): BreakerRow[] {
  const rows: BreakerRow[] = [];
  for (const update of health) {
    if (update.kind === 'cooldown') continue;
    const parsed = breakerStateSchema.safeParse(update.value);
    if (!parsed.success) continue;
    const s = parsed.data;
    const windowFailures = s.buckets.reduce((n, b) => n + b.failures, 0);
    rows.push({ kind: update.kind, id: update.id, state: s.state, since: s.since, consecutiveFailures: s.consecutiveFailures, windowFailures, windowRequests: windowFailures + s.buckets.reduce((n, b) => n + b.successes, 0) });
  }
  // Trouble first: open, then half-open, then closed; by id within each.
  const order = { open: 0, half_open: 1, closed: 2 };
  return rows.sort((a, b) => order[a.state] - order[b.state] || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
}

function cooldownRows(health: readonly HealthUpdate[], now: number): CooldownRow[] {
  const rows: CooldownRow[] = [];
  for (const update of health) {
    if (update.kind !== 'cooldown') continue;
    const parsed = keyCooldownEntrySchema.safeParse(update.value);
    if (parsed.success && parsed.data.until > now) rows.push({ key: update.id, ...parsed.data });
  }
  return rows.sort((a, b) => a.until - b.until);
}

function sum(rows: readonly Rated[], field: 'perSecond' | 'total'): number {
  return rows.reduce((n, r) => n + r[field], 0);
}

function regroup(rows: readonly Rated[], keyOf: (r: Rated) => string): [string, Rated[]][] {
  const groups = new Map<string, Rated[]>();
  for (const r of rows) groups.set(keyOf(r), [...(groups.get(keyOf(r)) ?? []), r]);
  return [...groups].sort((a, b) => sum(b[1], 'total') - sum(a[1], 'total'));
}

function grouped(rows: readonly Rated[], keyOf: (r: Rated) => string, field: 'perSecond' | 'total'): Record<string, number> {
  return Object.fromEntries(regroup(rows, keyOf).map(([key, group]) => [key, sum(group, field)]));
}

function unprefixed(name: string, prefix: string): string {
  return name.startsWith(`${prefix}.`) ? name.slice(prefix.length + 1) : name;
}
