// The worker service: executes request envelopes from two topics. Interactive requests have
// their own consumer and concurrency; batch requests have a smaller pool and yield to
// interactive ones, so a batch backlog does not slow interactive traffic.
import { groupIds } from '#libs/bus/topics.ts';
import { instanceId, type Runtime } from '#libs/runtime/runtime.ts';
import { handleMessage } from './execute.ts';
import { PriorityGate } from './priority-gate.ts';
import { HealthCache } from './health-cache.ts';
import { releaseWhenDue } from './parking.ts';

export interface WorkerService {
  id: string;
  inFlight(): number;
  /** Stops fetching and lets in-flight requests finish within the grace period. */
  stop(graceMs?: number): Promise<void>;
}

export async function startWorker(runtime: Runtime): Promise<WorkerService> {
  const id = instanceId('worker');
  const logger = runtime.logger.child({ service: 'worker', workerId: id });
  const health = new HealthCache(runtime.store, logger, runtime.metrics);
  await health.start();
  const ctx = { ...runtime, workerId: id, logger, health, claims: new Map<string, AbortController>() };
  // A Redis that restarted without its data lost every claim: take ours back before a
  // rebalance can hand these requests to another worker.
  runtime.store.onReconnect(() => {
    for (const requestId of ctx.claims.keys()) {
      runtime.store.renewClaim(requestId, id, runtime.config.worker.claimLeaseMs).catch((err: unknown) => logger.warn({ err, requestId }, 'could not re-take a claim'));
    }
    if (ctx.claims.size > 0) logger.warn({ claims: ctx.claims.size }, 'redis reconnected; re-took the claims of requests in flight');
  });
  const unsubscribeCancels = await runtime.store.subscribeCancels((requestId) => {
    const cancel = ctx.claims.get(requestId);
    if (!cancel) return;
    logger.info({ requestId }, 'cancelled by its client; stopping the call');
    cancel.abort(new Error('cancelled by the client'));
  });
  const { concurrency, batchConcurrency } = runtime.config.worker;
  const groups = groupIds(runtime.config.prefix);
  const gate = new PriorityGate({ threshold: Math.max(1, Math.floor(concurrency / 2)), maxLagMs: runtime.config.worker.batchYieldLagMs });
  const interactive = await runtime.bus.consume({
    groupId: groups.worker,
    topics: [runtime.topics.interactive],
    concurrency,
    handle: (message) => gate.runInteractive(() => handleMessage(ctx, message)),
  });
  const batch = await runtime.bus.consume({
    groupId: groups.batchWorker,
    topics: [runtime.topics.batch],
    concurrency: batchConcurrency,
    handle: (message) => gate.runBatch(() => handleMessage(ctx, message)),
  });
  // Parked batch requests wait on timers here, not in worker slots; many at once cost little.
  const stopping = new AbortController();
  const delayed = await runtime.bus.consume({
    groupId: groups.delayed,
    topics: [runtime.topics.delayed],
    concurrency: 10_000,
    handle: releaseWhenDue(ctx, stopping.signal),
  });
  ctx.logger.info({ concurrency, batchConcurrency }, 'worker consuming');
  return {
    id,
    inFlight: () => interactive.inFlight() + batch.inFlight(),
    stop: async (graceMs) => {
      // Parked requests not yet due stay uncommitted on the delay topic, for the next worker.
      stopping.abort();
      await Promise.all([interactive.stop(graceMs), batch.stop(graceMs), delayed.stop(0)]);
      gate.stop();
      await Promise.all([health.stop(), unsubscribeCancels()]);
    },
  };
}
