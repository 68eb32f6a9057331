// Every process, whatever its role, publishes its dashboard snapshot to the store every interval,
// so the dashboard (served by any of them) sums the whole deployment: fallbacks and attempts happen
// in workers, the page may be served by an ingest node. An entry lapses after a few intervals
// without a publish, so a process that died leaves the sums on its own.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '#libs/store/store.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import type { Metrics } from '#libs/telemetry/metrics.ts';
import { takeSnapshot, type Identity } from './snapshot.ts';

export interface PublisherOptions {
  store: Store;
  metrics: Metrics;
  logger: Logger;
  identity: Identity;
  intervalMs: number;
}

export interface Publisher {
  /** Publishes once now (the loop does it every interval); resolves when the store has it. */
  publish(): Promise<void>;
  stop(): Promise<void>;
}

export function startPublisher(opts: PublisherOptions): Publisher {
  const log = opts.logger.child({ component: 'dashboard-publisher' });
  // Three intervals: one late or lost publish does not make a live process vanish.
  const ttlSeconds = Math.max(2, Math.ceil((3 * opts.intervalMs) / 1000));
  let failing = false;
  let inFlight: Promise<void> | undefined;

  const publish = async (): Promise<void> => {
    const snapshot = await takeSnapshot(opts.metrics, opts.identity, Date.now());
    await opts.store.saveDashboardSnapshot(opts.identity.instance, JSON.stringify(snapshot), ttlSeconds);
  };
  const tick = (): void => {
    if (inFlight) return;
    inFlight = publish()
      .then(
        () => {
          if (failing) log.info('dashboard snapshots published again');
          failing = false;
        },
        (err: unknown) => {
          // Once per outage, not every interval.
          if (!failing) log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not publish the dashboard snapshot; retrying every interval');
          failing = true;
        },
      )
      .finally(() => (inFlight = undefined));
  };
  tick();
  const timer = setInterval(tick, opts.intervalMs);
  timer.unref();

  return {
    publish,
    async stop() {
      clearInterval(timer);
      // A publish stuck on a store that is away does not hold up shutdown.
      await Promise.race([inFlight, sleep(1_000, undefined, { ref: false })]);
    },
  };
}
