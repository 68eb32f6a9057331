// Starts a chosen set of services in this process: all three (the `start` command and the
// embedded default) or one at a time (`ingest`, `worker`, `results`). Tests use it too.
import type { FastifyInstance } from 'fastify';
import type { Config } from '#libs/config/schema.ts';
import { createApp } from '#libs/http/app.ts';
import { closeRuntime, createRuntime, type Runtime } from '#libs/runtime/runtime.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import { startIngest, type IngestService } from './ingest/ingest.ts';
import { startWorker, type WorkerService } from './worker/worker.ts';
import { startResults, type ResultsService } from './results/results.ts';
import { startFiles } from './files/files.ts';
import { startBatches } from './batches/batches.ts';
import { startDashboard, type DashboardService } from './dashboard/dashboard.ts';
import { startAdmin } from './admin/admin.ts';

export type Role = 'ingest' | 'worker' | 'results';

export interface Gateway {
  url: string;
  port: number;
  runtime: Runtime;
  app: FastifyInstance;
  ingest?: IngestService;
  worker?: WorkerService;
  results?: ResultsService;
  /** Graceful: stop taking requests, let work in flight finish within graceMs, then close. */
  close(graceMs?: number): Promise<void>;
}

export interface GatewayOptions {
  config: Config;
  logger: Logger;
  roles: Role[];
  port: number;
  host?: string;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const runtime = await createRuntime(opts.config, opts.logger);
  const app = createApp({
    logger: opts.logger,
    metrics: runtime.metrics,
    bodyLimitBytes: opts.config.server.bodyLimitBytes,
    ready: async () => (await Promise.all([runtime.bus.ready(), runtime.store.ready()])).every(Boolean),
    auth: runtime.auth,
  });
  let ingest: IngestService | undefined;
  let worker: WorkerService | undefined;
  let results: ResultsService | undefined;
  let dashboard: DashboardService | undefined;
  let admin: ReturnType<typeof startAdmin> | undefined;
  try {
    if (opts.roles.includes('results')) {
      results = await startResults(runtime);
      results.register(app);
    }
    if (opts.roles.includes('worker')) worker = await startWorker(runtime);
    if (opts.roles.includes('ingest')) {
      ingest = await startIngest(runtime);
      ingest.register(app);
      const files = startFiles(runtime);
      files.register(app);
      startBatches(runtime, files.storage).register(app);
      admin = startAdmin(runtime);
      admin.register(app);
    }
    // Every process publishes its counters for the dashboard; any of them serves it when admin.key is set.
    dashboard = startDashboard(runtime, opts.roles);
    dashboard.register(app);
    await app.listen({ port: opts.port, host: opts.host ?? opts.config.server.host });
  } catch (err) {
    admin?.stop();
    await Promise.allSettled([ingest?.close(), worker?.stop(0), results?.stop(0), dashboard?.stop()]);
    await app.close().catch(() => undefined);
    await closeRuntime(runtime);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    runtime,
    app,
    ingest,
    worker,
    results,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        // Stop taking requests first; answers already waited for keep flowing while workers drain.
        const appClosed = app.close();
        const resultsStopped = results?.stop(graceMs);
        await worker?.stop(graceMs);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([appClosed, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
        clearTimeout(timer);
        admin?.stop();
        await ingest?.close();
        await resultsStopped;
        await dashboard?.stop();
        await closeRuntime(runtime);
      })();
      return closing;
    },
  };
}
