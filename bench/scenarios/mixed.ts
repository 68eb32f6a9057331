// Interactive latency while a large batch runs: sync requests at a fixed rate, first alone, then
// with a backlog of async batch-priority requests queued ahead of them on the same process. The
// batch yields to interactive work (worker.batchConcurrency, the priority gate), so the two
// interactive runs should look alike while the backlog drains.
import { startLoad } from '../load.ts';
import { summarize } from '../percentiles.ts';
import { memoryOf } from '../processes.ts';
import type { Scenario, ScenarioContext, ThroughputReport, ThroughputRun } from '../scenario.ts';
import { prime, startSpillway, startUpstream } from '../targets.ts';
import { processPids } from './process-pids.ts';

const upstreamLatencyMs = 50;
const interactiveRate = 100;
const backlog = 20_000;
const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });

async function run(ctx: ScenarioContext): Promise<ThroughputReport> {
  const upstream = await startUpstream({ latencyMs: upstreamLatencyMs, tokenIntervalMs: 0, logDir: ctx.logDir, label: 'mixed' });
  const spillway = await startSpillway({ bin: ctx.options.spillwayBin, upstream, services: ctx.services, workerConcurrency: 256, logDir: ctx.logDir, label: 'mixed' });
  const pids = processPids(ctx, { spillway, upstream: upstream.child });
  const runs: ThroughputRun[] = [];
  const interactive = async (label: string): Promise<void> => {
    const result = await startLoad({ origin: spillway.origin, path: '/v1/chat/completions', body, stream: false, rate: interactiveRate, warmupS: ctx.options.warmupS, durationS: ctx.options.durationS, connections: ctx.options.connections, timeoutMs: 30_000 }).done;
    const latency = summarize(result.latencyMs.map((ms) => ms - upstreamLatencyMs));
    runs.push({ offeredRate: interactiveRate, achievedRate: result.achievedRate, recorded: result.recorded, ok: result.ok, errors: result.errors, latency, sendLag: summarize(result.sendLagMs), memory: await memoryOf(pids) });
    ctx.log(`  interactive ${label}: added p50 ${latency.p50.toFixed(1)} p99 ${latency.p99.toFixed(1)} ms, ok ${result.ok}`);
  };
  try {
    await prime(spillway, body, 60_000);
    await interactive('alone');
    // The backlog: accepted fast (async), executed slowly (a 50 ms upstream, batchConcurrency at a time).
    const queued = await startLoad({ origin: spillway.origin, path: '/v1/chat/completions', body, stream: false, rate: 5_000, warmupS: 0, durationS: backlog / 5_000, connections: ctx.options.connections, timeoutMs: 30_000, headers: { prefer: 'respond-async', 'x-spillway-priority': 'batch' }, okStatus: 202 }).done;
    ctx.log(`  batch backlog: ${queued.ok} of ${backlog} accepted`);
    await interactive(`with a batch backlog of ${queued.ok}`);
  } finally {
    await spillway.child.stop();
    await upstream.child.stop();
  }
  return {
    kind: 'throughput',
    scenario: 'mixed',
    measures: mixed.measures,
    setup: { 'upstream latency ms (subtracted)': upstreamLatencyMs, 'interactive rate /s': interactiveRate, 'batch backlog': backlog, 'rows': 'first: interactive alone; second: interactive with the backlog draining' },
    runs,
  };
}

export const mixed: Scenario = {
  name: 'mixed',
  measures: `Interactive sync requests at ${interactiveRate}/s alone, then while a backlog of ${backlog} batch requests drains on the same process: latency added over the upstream's ${upstreamLatencyMs} ms.`,
  run,
};
