// Spillway and the floor, interleaved A B A B … at one offered rate: each pair shares the noisy
// machine's mood of the moment, so the per-pair difference is steadier than either number alone.
import { comparePairs, median, summarize } from './percentiles.ts';
import { startLoad } from './load.ts';
import { memoryOf } from './processes.ts';
import type { MetricComparison, RateReport, RunRecord, ScenarioContext } from './scenario.ts';
import type { Target, Upstream } from './targets.ts';

export interface PairedRunsOptions {
  rate: number;
  stream: boolean;
  body: string;
  subject: Target;
  baseline: Target;
  upstream: Upstream;
  /** Every process whose memory is read after each run, by name. */
  pids: Record<string, number>;
}

const settleMs = 1_000;

/** Pair 0 is the discarded warm-up: JIT, pools and a freshly joined consumer group settle before pair 1. */
const warmupRunS = 3;

async function runOnce(ctx: ScenarioContext, opts: PairedRunsOptions, target: Target, pair: number): Promise<RunRecord> {
  const { options } = ctx;
  const warmingUp = pair === 0;
  const load = startLoad({
    origin: target.origin,
    path: '/v1/chat/completions',
    body: opts.body,
    stream: opts.stream,
    rate: opts.rate,
    warmupS: warmingUp ? 0 : options.warmupS,
    durationS: warmingUp ? warmupRunS : options.durationS,
    connections: options.connections,
    timeoutMs: 30_000,
    ...(target.headers ? { headers: target.headers } : {}),
  });
  const result = await load.done;
  const record: RunRecord = {
    target: target.name,
    pair,
    achievedRate: result.achievedRate,
    recorded: result.recorded,
    ok: result.ok,
    errors: result.errors,
    latency: summarize(result.latencyMs),
    sendLag: summarize(result.sendLagMs),
    maxInFlight: result.maxInFlight,
    memory: await memoryOf(opts.pids),
  };
  if (opts.stream) {
    record.firstToken = summarize(result.firstTokenMs);
    record.tokenGap = summarize(result.tokenGapMs);
  }
  const errorCount = Object.values(result.errors).reduce((a, b) => a + b, 0);
  ctx.log(
    `  ${warmingUp ? 'warm-up' : `pair ${pair}`} ${target.name.padEnd(8)} p50 ${record.latency.p50.toFixed(1)} p99 ${record.latency.p99.toFixed(1)} max ${record.latency.p100.toFixed(1)} ms` +
      (record.firstToken ? `  ttft p50 ${record.firstToken.p50.toFixed(1)} p99 ${record.firstToken.p99.toFixed(1)}` : '') +
      `  achieved ${result.achievedRate.toFixed(0)}/s  errors ${errorCount}  lag p99 ${record.sendLag.p99.toFixed(1)} ms`,
  );
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  return record;
}

export async function runPairs(ctx: ScenarioContext, opts: PairedRunsOptions): Promise<RateReport> {
  const runs: RunRecord[] = [];
  const pairs: Array<{ subject: RunRecord; baseline: RunRecord }> = [];
  ctx.log(`rate ${opts.rate}/s: a ${warmupRunS} s warm-up each, then ${ctx.options.pairs} pairs of ${ctx.options.warmupS}+${ctx.options.durationS} s (${opts.subject.name} then ${opts.baseline.name})`);
  await runOnce(ctx, opts, opts.subject, 0);
  await runOnce(ctx, opts, opts.baseline, 0);
  for (let pair = 1; pair <= ctx.options.pairs; pair++) {
    const subject = await runOnce(ctx, opts, opts.subject, pair);
    const baseline = await runOnce(ctx, opts, opts.baseline, pair);
    runs.push(subject, baseline);
    pairs.push({ subject, baseline });
  }

  const compare = (metric: string, upstreamMs: number, pick: (r: RunRecord) => RunRecord['latency'] | undefined): MetricComparison | undefined => {
    const picked = pairs.map((p) => ({ subject: pick(p.subject), baseline: pick(p.baseline) }));
    const complete = picked.flatMap((p) => (p.subject !== undefined && p.baseline !== undefined ? [{ subject: p.subject, baseline: p.baseline }] : []));
    return complete.length === 0 ? undefined : { metric, upstreamMs, rows: comparePairs(complete) };
  };
  const { latencyMs, tokenIntervalMs } = opts.upstream;
  const comparisons = [
    // A stream's last byte comes after every token interval, so only its token metrics are compared.
    opts.stream ? undefined : compare('latency', latencyMs, (r) => r.latency),
    opts.stream ? compare('time to first token', latencyMs + tokenIntervalMs, (r) => r.firstToken) : undefined,
    opts.stream ? compare('inter-token gap', tokenIntervalMs, (r) => r.tokenGap) : undefined,
  ].flatMap((c) => (c === undefined ? [] : [c]));

  const byTarget = (fn: (records: RunRecord[]) => number): Record<string, number> => ({
    [opts.subject.name]: fn(pairs.map((p) => p.subject)),
    [opts.baseline.name]: fn(pairs.map((p) => p.baseline)),
  });
  const errors: Record<string, Record<string, number>> = { [opts.subject.name]: {}, [opts.baseline.name]: {} };
  for (const run of runs) {
    const sum = errors[run.target];
    for (const [key, n] of Object.entries(run.errors)) sum[key] = (sum[key] ?? 0) + n;
  }
  return {
    rate: opts.rate,
    pairs: pairs.length,
    comparisons,
    achievedRate: byTarget((records) => median(records.map((r) => r.achievedRate))),
    errors,
    sendLagP99: byTarget((records) => median(records.map((r) => r.sendLag.p99))),
    runs,
  };
}
