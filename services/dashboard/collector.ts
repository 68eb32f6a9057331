// Samples the deployment for the page, every interval, only while someone is looking: the live
// processes' snapshots from the store (summed into rates), the shared breaker and cooldown state,
// consumer lag from the bus, the running batches. Keeps the chart points of the last few minutes.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, GroupTopic } from '#libs/bus/bus.ts';
import { groupIds, type Topics } from '#libs/bus/topics.ts';
import type { Batch } from '#libs/contracts/batch.ts';
import type { Store } from '#libs/store/store.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import { remember, summarize, type History } from './rates.ts';
import { snapshotSchema, type Snapshot } from './snapshot.ts';
import { buildView, type Point, type Tables } from './view.ts';

export interface CollectorOptions {
  store: Store;
  bus: Bus;
  prefix: string;
  topics: Topics;
  intervalMs: number;
  logger: Logger;
  /** Sampling stops once the page has asked nothing for this long. */
  idleMs?: number;
  /** Chart points are kept this long. */
  keepMs?: number;
}

/** What /dashboard/data answers. */
export interface DashboardData extends Tables {
  now: number;
  intervalMs: number;
  prefix: string;
  durable: boolean;
  /** The points after the `since` asked for, oldest first. */
  points: Point[];
}

/** Batches listed, newest first, when looking for those still running. */
const batchesLooked = 100;

export class Collector {
  private readonly opts: Required<CollectorOptions>;
  private readonly log: Logger;
  private readonly groups: GroupTopic[];
  private history: History = new Map();
  private points: Point[] = [];
  private tables: Tables | undefined;
  private lastAsked = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(opts: CollectorOptions) {
    this.opts = { idleMs: 60_000, keepMs: 10 * 60_000, ...opts };
    this.log = opts.logger.child({ component: 'dashboard' });
    const g = groupIds(opts.prefix);
    const t = opts.topics;
    this.groups = [
      { groupId: g.worker, topic: t.interactive },
      { groupId: g.batchWorker, topic: t.batch },
      { groupId: g.delayed, topic: t.delayed },
      { groupId: g.results, topic: t.results },
      { groupId: g.batches, topic: t.results },
      { groupId: g.webhooks, topic: t.results },
      { groupId: g.usage, topic: t.usage },
    ];
  }

  /** The state for the page; starts sampling (and waits for the first sample) when it was idle. */
  async data(since: number): Promise<DashboardData> {
    this.lastAsked = Date.now();
    if (!this.timer && !this.running && !this.stopped) await this.tick();
    else if (!this.tables) await this.running;
    const tables = this.tables ?? emptyTables(this.opts.prefix);
    return {
      ...tables,
      now: Date.now(),
      intervalMs: this.opts.intervalMs,
      prefix: this.opts.prefix,
      durable: this.opts.store.durable,
      points: this.points.filter((p) => p.t > since),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A sample stuck on a store or broker that is away does not hold up shutdown.
    await Promise.race([this.running, sleep(1_000, undefined, { ref: false })]);
  }

  private schedule(): void {
    if (this.stopped) return;
    if (Date.now() - this.lastAsked > this.opts.idleMs) {
      // Nobody is looking: stop sampling, and start the charts afresh next time rather than across a gap.
      this.history = new Map();
      this.points = [];
      this.tables = undefined;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  private tick(): Promise<void> {
    this.running ??= this.sample()
      .catch((err: unknown) => this.log.warn({ err }, 'dashboard sample failed'))
      .finally(() => {
        this.running = undefined;
        this.schedule();
      });
    return this.running;
  }

  private async sample(): Promise<void> {
    const { store, bus } = this.opts;
    const [snapshots, health, lag, batches] = await Promise.all([
      store.dashboardSnapshots().then(parseSnapshots),
      store.loadHealth(),
      bus.lag(this.groups).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      store.listBatches(undefined, batchesLooked).then((page): Batch[] => ('batches' in page ? page.batches : [])),
    ]);
    const now = Date.now();
    // Rates over five intervals, percentiles over fifteen: smooth enough to read, recent enough to be live.
    this.history = remember(this.history, snapshots, 15 * this.opts.intervalMs);
    const sample = summarize(this.history, { rateMs: 5 * this.opts.intervalMs, latencyMs: 15 * this.opts.intervalMs }, now);
    const { point, tables } = buildView({ sample, health, lag, batches, prefix: this.opts.prefix, now });
    this.tables = tables;
    this.points.push(point);
    while (this.points.length > 0 && this.points[0].t < now - this.opts.keepMs) this.points.shift();
  }
}

/** The tables before any sample could be taken. */
function emptyTables(prefix: string): Tables {
  const now = Date.now();
  return buildView({ sample: summarize(new Map(), { rateMs: 1, latencyMs: 1 }, now), health: [], lag: [], batches: [], prefix, now }).tables;
}

function parseSnapshots(raw: readonly string[]): Snapshot[] {
  const snapshots: Snapshot[] = [];
  for (const text of raw) {
    try {
      const parsed = snapshotSchema.safeParse(JSON.parse(text));
      if (parsed.success) snapshots.push(parsed.data);
    } catch {
      // Not JSON: left out, like any snapshot of a shape this version cannot read.
    }
  }
  return snapshots;
}
