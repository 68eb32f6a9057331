// The worker service: a member of the worker consumer group that executes request envelopes.
import { groupIds } from '#libs/bus/topics.ts';
import type { Consumer } from '#libs/bus/bus.ts';
import { instanceId, type Runtime } from '#libs/runtime/runtime.ts';
import { handleMessage } from './execute.ts';

export interface WorkerService {
  id: string;
  inFlight(): number;
  /** Stops fetching and lets in-flight requests finish within the grace period. */
  stop(graceMs?: number): Promise<void>;
}

export async function startWorker(runtime: Runtime): Promise<WorkerService> {
  const id = instanceId('worker');
  const ctx = { ...runtime, workerId: id, logger: runtime.logger.child({ service: 'worker', workerId: id }) };
  const consumer: Consumer = await runtime.bus.consume({
    groupId: groupIds(runtime.config.prefix).worker,
    topics: [runtime.topics.interactive, runtime.topics.batch],
    concurrency: runtime.config.worker.concurrency,
    handle: (message) => handleMessage(ctx, message),
  });
  ctx.logger.info({ concurrency: runtime.config.worker.concurrency }, 'worker consuming');
  return { id, inFlight: () => consumer.inFlight(), stop: (graceMs) => consumer.stop(graceMs) };
}
