// Sync, non-streaming chat completions at fixed offered rates against a zero-latency upstream:
// what the durable path (ingest → Kafka → worker → Redis → ingest) adds per request.
import { runPairs } from '../paired-runs.ts';
import type { PairedReport, Scenario, ScenarioContext } from '../scenario.ts';
import { prime, startFloor, startSpillway, startUpstream } from '../targets.ts';
import { processPids } from './process-pids.ts';

const upstreamLatencyMs = 0;
const defaultRates = [500, 1000];
const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });

async function run(ctx: ScenarioContext): Promise<PairedReport> {
  const upstream = await startUpstream({ latencyMs: upstreamLatencyMs, tokenIntervalMs: 0, logDir: ctx.logDir, label: 'sync' });
  const spillway = await startSpillway({ bin: ctx.options.spillwayBin, upstream, services: ctx.services, workerConcurrency: 1024, logDir: ctx.logDir, label: 'sync' });
  const floor = await startFloor({ upstream, logDir: ctx.logDir, label: 'sync' });
  await prime(spillway, body, 60_000);
  await prime(floor, body, 10_000);
  const pids = processPids(ctx, { spillway, floor, upstream: upstream.child });
  const rates = [];
  for (const rate of ctx.options.rates ?? defaultRates) {
    rates.push(await runPairs(ctx, { rate, stream: false, body, subject: spillway, baseline: floor, upstream, pids }));
  }
  await floor.child.stop();
  await spillway.child.stop();
  await upstream.child.stop();
  return {
    kind: 'paired',
    scenario: 'sync',
    measures: sync.measures,
    setup: { 'upstream latency ms': upstreamLatencyMs, 'worker concurrency': 1024, 'partitions per topic': 12, 'client connections': ctx.options.connections },
    rates,
  };
}

export const sync: Scenario = {
  name: 'sync',
  measures: 'Non-streaming requests at fixed offered rates: client-observed latency minus the upstream latency, Spillway vs the floor, achieved rate and errors.',
  run,
};
