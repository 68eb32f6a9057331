// Many slow upstream calls at once on one Spillway process: open N requests against an upstream
// that takes 20 s, read the process's RSS while they are all in flight, divide by N.
import { summarize, subtractUpstream } from '../percentiles.ts';
import { startLoad } from '../load.ts';
import { establishedTo, memoryOf, readMemory } from '../processes.ts';
import type { InflightReport, InflightTargetReport, Scenario, ScenarioContext } from '../scenario.ts';
import { benchPrefix, prime, startFloor, startSpillway, startUpstream } from '../targets.ts';
import type { Target, Upstream } from '../targets.ts';
import { processPids } from './process-pids.ts';

const requests = 5_000;
const upstreamLatencyMs = 20_000;
const rampRate = 1_000;
const workerConcurrency = 6_000;
const sampleEveryMs = 250;
// Give up on a request well after it should have finished; a long queue inside the target shows as timeouts.
const timeoutMs = upstreamLatencyMs + 15_000;
const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });

/** Loads `target`; reads the memory of `measured` (the target itself, or the worker behind a split ingest). */
async function measure(ctx: ScenarioContext, target: Target, upstream: Upstream, extra: Record<string, number>, measured: Target = target): Promise<InflightTargetReport> {
  const idle = await readMemory(measured.child.pid);
  const connectionsBefore = await establishedTo(upstream.port);
  const rampS = requests / rampRate;
  const load = startLoad({
    origin: target.origin,
    path: '/v1/chat/completions',
    body,
    stream: false,
    rate: rampRate,
    warmupS: 0,
    durationS: rampS,
    connections: requests,
    timeoutMs,
  });
  await load.sent;
  // Sample from the end of the ramp until just before the first requests come back.
  const sampleUntil = Date.now() + upstreamLatencyMs - rampS * 1000 - 1_000;
  let peak = { rssMb: 0, inFlight: 0, upstreamConnections: 0 };
  while (Date.now() < sampleUntil) {
    const memory = await readMemory(measured.child.pid);
    const upstreamConnections = (await establishedTo(upstream.port)) - connectionsBefore;
    if (memory !== undefined && memory.rssMb > peak.rssMb) peak = { rssMb: memory.rssMb, inFlight: load.inFlight(), upstreamConnections };
    await new Promise((resolve) => setTimeout(resolve, sampleEveryMs));
  }
  ctx.log(`  ${measured.name.padEnd(8)} in flight ${peak.inFlight}, upstream connections ${peak.upstreamConnections}, RSS ${peak.rssMb.toFixed(0)} MB (idle ${idle?.rssMb.toFixed(0) ?? '?'} MB); waiting for answers`);
  const result = await load.done;
  const memory = await memoryOf({ [measured.name]: measured.child.pid, ...(measured === target ? {} : { [target.name]: target.child.pid }), ...extra });
  const idleRss = idle?.rssMb ?? Number.NaN;
  const report: InflightTargetReport = {
    target: measured.name,
    requests,
    inFlightAtSample: peak.inFlight,
    upstreamConnections: peak.upstreamConnections,
    idleRssMb: idleRss,
    peakRssMb: peak.rssMb,
    hwmMb: memory[measured.name]?.hwmMb ?? Number.NaN,
    mbPerRequestTotal: peak.rssMb / Math.max(peak.inFlight, 1),
    mbPerRequestAdded: (peak.rssMb - idleRss) / Math.max(peak.inFlight, 1),
    ok: result.ok,
    errors: result.errors,
    added: subtractUpstream(summarize(result.latencyMs), upstreamLatencyMs),
    memory,
  };
  const errorCount = Object.values(result.errors).reduce((a, b) => a + b, 0);
  ctx.log(`  ${measured.name.padEnd(8)} ok ${result.ok}, errors ${errorCount} ${JSON.stringify(result.errors)}, added p50 ${report.added.p50.toFixed(0)} p99 ${report.added.p99.toFixed(0)} max ${report.added.p100.toFixed(0)} ms`);
  return report;
}

async function run(ctx: ScenarioContext): Promise<InflightReport> {
  const upstream = await startUpstream({ latencyMs: upstreamLatencyMs, tokenIntervalMs: 0, logDir: ctx.logDir, label: 'inflight' });
  ctx.log(`${requests} requests at ${rampRate}/s against a ${upstreamLatencyMs / 1000} s upstream, Spillway then the floor, one process each`);
  const targets: InflightTargetReport[] = [];

  // One target at a time, each stopped before the next starts: neither's sockets or memory blur the other's.
  const spillway = await startSpillway({ bin: ctx.options.spillwayBin, upstream, services: ctx.services, workerConcurrency, logDir: ctx.logDir, label: 'inflight' });
  try {
    await prime(spillway, body, 90_000);
    targets.push(await measure(ctx, spillway, upstream, processPids(ctx, { upstream: upstream.child })));
  } finally {
    await spillway.child.stop();
  }
  // Split: the client connections land on an ingest process, the upstream calls on a worker process.
  const prefix = benchPrefix();
  const worker = await startSpillway({ bin: ctx.options.spillwayBin, upstream, services: ctx.services, workerConcurrency, logDir: ctx.logDir, label: 'inflight', command: 'worker', prefix });
  try {
    const ingest = await startSpillway({ bin: ctx.options.spillwayBin, upstream, services: ctx.services, workerConcurrency, logDir: ctx.logDir, label: 'inflight', command: 'ingest', prefix });
    try {
      await prime(ingest, body, 90_000);
      targets.push(await measure(ctx, ingest, upstream, processPids(ctx, { upstream: upstream.child }), worker));
    } finally {
      await ingest.child.stop();
    }
  } finally {
    await worker.child.stop();
  }
  const floor = await startFloor({ upstream, logDir: ctx.logDir, label: 'inflight' });
  try {
    targets.push(await measure(ctx, floor, upstream, processPids(ctx, { upstream: upstream.child })));
  } finally {
    await floor.child.stop();
  }
  await upstream.child.stop();

  return {
    kind: 'inflight',
    scenario: 'inflight',
    measures: inflight.measures,
    setup: { requests, 'ramp rate /s': rampRate, 'upstream latency ms': upstreamLatencyMs, 'worker concurrency': workerConcurrency, 'client timeout ms': timeoutMs },
    targets,
  };
}

export const inflight: Scenario = {
  name: 'inflight',
  measures: `${requests} concurrent requests to a ${upstreamLatencyMs / 1000} s upstream: RSS while all are in flight, and MB per in-flight request — of the all-in-one process, of a worker process with ingest in its own process, and of the floor.`,
  run,
};
