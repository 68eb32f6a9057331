// Batch ingest: how many async submissions per second Spillway accepts — each answered 202 only
// after Kafka acknowledged it — at rising offered rates. The worker runs beside ingest (the
// all-in-one process) and executes what is accepted, as it would in production.
import { startLoad } from '../load.ts';
import { summarize } from '../percentiles.ts';
import { memoryOf } from '../processes.ts';
import type { Scenario, ScenarioContext, ThroughputReport, ThroughputRun } from '../scenario.ts';
import { prime, startSpillway, startUpstream } from '../targets.ts';
import { processPids } from './process-pids.ts';

const defaultRates = [2_500, 5_000, 10_000];
const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
const headers = { prefer: 'respond-async', 'x-spillway-priority': 'batch' };

async function run(ctx: ScenarioContext): Promise<ThroughputReport> {
  const upstream = await startUpstream({ latencyMs: 0, tokenIntervalMs: 0, logDir: ctx.logDir, label: 'batch-ingest' });
  const spillway = await startSpillway({ bin: ctx.options.spillwayBin, upstream, services: ctx.services, workerConcurrency: 256, logDir: ctx.logDir, label: 'batch-ingest' });
  const pids = processPids(ctx, { spillway, upstream: upstream.child });
  const runs: ThroughputRun[] = [];
  try {
    await prime(spillway, body, 60_000);
    for (const rate of ctx.options.rates ?? defaultRates) {
      const result = await startLoad({
        origin: spillway.origin,
        path: '/v1/chat/completions',
        body,
        stream: false,
        rate,
        warmupS: ctx.options.warmupS,
        durationS: ctx.options.durationS,
        connections: ctx.options.connections,
        timeoutMs: 30_000,
        headers,
        okStatus: 202,
      }).done;
      const record: ThroughputRun = {
        offeredRate: rate,
        achievedRate: result.achievedRate,
        recorded: result.recorded,
        ok: result.ok,
        errors: result.errors,
        latency: summarize(result.latencyMs),
        sendLag: summarize(result.sendLagMs),
        memory: await memoryOf(pids),
      };
      runs.push(record);
      const errorCount = Object.values(result.errors).reduce((a, b) => a + b, 0);
      ctx.log(`  offered ${rate}/s: accepted ${result.achievedRate.toFixed(0)}/s, 202 p50 ${record.latency.p50.toFixed(1)} p99 ${record.latency.p99.toFixed(1)} ms, errors ${errorCount}, lag p99 ${record.sendLag.p99.toFixed(1)} ms`);
    }
  } finally {
    await spillway.child.stop();
    await upstream.child.stop();
  }
  return {
    kind: 'throughput',
    scenario: 'batch-ingest',
    measures: batchIngest.measures,
    setup: { 'submission headers': 'prefer: respond-async, x-spillway-priority: batch', 'worker concurrency': 256, 'partitions per topic': 12, 'client connections': ctx.options.connections },
    runs,
  };
}

export const batchIngest: Scenario = {
  name: 'batch-ingest',
  measures: 'Async submissions per second accepted (202 after the Kafka acknowledgement) at fixed offered rates, with the latency of the 202, while the worker in the same process executes them.',
  run,
};
