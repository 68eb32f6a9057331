// Batch work yields to interactive work on the same worker. A batch request starts only while
// interactive requests in flight stay below a threshold, and — while interactive requests are
// arriving — only while the event loop keeps up: on a busy machine the batch takes the CPU that
// interactive latency needs long before it takes their slots. One batch request may always run,
// lag or not, so steady interactive traffic on a loaded machine slows batch work but never stops it.
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** How long after an interactive request batch admission still watches the event loop. */
const interactiveRecentMs = 1_000;
const sampleMs = 100;

export interface PriorityGateOptions {
  /** Interactive requests in flight at which batch requests stop starting. */
  threshold: number;
  /** Event-loop delay (p99 over the last 100 ms) above which batch requests wait while interactive ones arrive; 0 turns it off. */
  maxLagMs: number;
  /** The event-loop delay in ms; by default measured with perf_hooks. */
  lag?: () => number;
}

export class PriorityGate {
  private interactive = 0;
  private batch = 0;
  private lastInteractiveAt = Number.NEGATIVE_INFINITY;
  private waiters: (() => void)[] = [];
  private readonly opts: PriorityGateOptions;
  private readonly lag: () => number;
  private readonly histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
  private readonly ticker: NodeJS.Timeout | undefined;
  private lagMs = 0;

  constructor(opts: PriorityGateOptions) {
    this.opts = opts;
    if (opts.lag) {
      this.lag = opts.lag;
    } else {
      const histogram = monitorEventLoopDelay({ resolution: 10 });
      histogram.enable();
      this.histogram = histogram;
      this.lag = () => this.lagMs;
    }
    if (opts.maxLagMs > 0) {
      // Re-measured and re-checked on a tick: a batch request held for lag starts once it eases.
      this.ticker = setInterval(() => {
        if (this.histogram) {
          this.lagMs = this.histogram.percentile(99) / 1e6;
          this.histogram.reset();
        }
        if (this.waiters.length > 0) this.wake();
      }, sampleMs);
      this.ticker.unref();
    }
  }

  async runInteractive<T>(work: () => Promise<T>): Promise<T> {
    this.interactive++;
    this.lastInteractiveAt = Date.now();
    try {
      return await work();
    } finally {
      this.interactive--;
      if (this.interactive < this.opts.threshold) this.wake();
    }
  }

  async runBatch<T>(work: () => Promise<T>): Promise<T> {
    while (!this.batchMayStart()) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.batch++;
    try {
      return await work();
    } finally {
      this.batch--;
      if (this.batch === 0) this.wake();
    }
  }

  private batchMayStart(): boolean {
    if (this.interactive >= this.opts.threshold) return false;
    if (this.batch === 0 || this.opts.maxLagMs <= 0 || Date.now() - this.lastInteractiveAt > interactiveRecentMs) return true;
    return this.lag() <= this.opts.maxLagMs;
  }

  stop(): void {
    clearInterval(this.ticker);
    this.histogram?.disable();
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
