// Streaming chat completions from an upstream that sends one word every tokenIntervalMs: the
// time to first token and the inter-token gaps the gateway adds on top of the upstream's own.
import { runPairs } from '../paired-runs.ts';
import type { PairedReport, Scenario, ScenarioContext } from '../scenario.ts';
import { prime, startFloor, startSpillway, startUpstream } from '../targets.ts';
import { processPids } from './process-pids.ts';

const upstreamLatencyMs = 0;
const tokenIntervalMs = 20;
const defaultRates = [200];
// Ten words: the fake echoes them back as eleven text chunks, so each stream has ten gaps.
const prompt = 'one two three four five six seven eight nine ten';
const body = JSON.stringify({ model: 'openai/gpt-4o-mini', stream: true, messages: [{ role: 'user', content: prompt }] });

async function run(ctx: ScenarioContext): Promise<PairedReport> {
  const upstream = await startUpstream({ latencyMs: upstreamLatencyMs, tokenIntervalMs, logDir: ctx.logDir, label: 'stream' });
  const spillway = await startSpillway({ bin: ctx.options.spillwayBin, upstream, services: ctx.services, workerConcurrency: 1024, logDir: ctx.logDir, label: 'stream' });
  const floor = await startFloor({ upstream, logDir: ctx.logDir, label: 'stream' });
  await prime(spillway, body, 60_000);
  await prime(floor, body, 10_000);
  const pids = processPids(ctx, { spillway, floor, upstream: upstream.child });
  const rates = [];
  for (const rate of ctx.options.rates ?? defaultRates) {
    rates.push(await runPairs(ctx, { rate, stream: true, body, subject: spillway, baseline: floor, upstream, pids }));
  }
  await floor.child.stop();
  await spillway.child.stop();
  await upstream.child.stop();
  return {
    kind: 'paired',
    scenario: 'stream',
    measures: stream.measures,
    setup: {
      'upstream latency ms': upstreamLatencyMs,
      'upstream token interval ms': tokenIntervalMs,
      'text chunks per stream': 11,
      'worker concurrency': 1024,
      'client connections': ctx.options.connections,
    },
    rates,
  };
}

export const stream: Scenario = {
  name: 'stream',
  measures: `Streaming requests (upstream: first byte at once, then one word every ${tokenIntervalMs} ms): time to first text chunk and inter-chunk gaps, each minus the upstream's own, Spillway vs the floor.`,
  run,
};
