// What a failover costs the client: the same Spillway answers requests whose primary target fails
// with a 503 at once (no retry, the breaker kept shut, so every request fails over to the backup)
// and requests whose primary is healthy (the same backup upstream, tried first). Both answers come
// from the same upstream by the same path, so the latency difference is what the failed attempt
// and the failover decision add. Interleaved pairs, like the other paired scenarios.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { startFakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startLoad } from '../load.ts';
import { comparePairs, median, summarize } from '../percentiles.ts';
import { freePort, memoryOf, startChild, waitForOk } from '../processes.ts';
import type { PairedReport, RateReport, RunRecord, Scenario, ScenarioContext } from '../scenario.ts';
import { benchAuth, prime, startUpstream, type Services, type Target, type Upstream } from '../targets.ts';
import { processPids } from './process-pids.ts';

const defaultRates = [200];
const workerConcurrency = 1024;
const warmupRunS = 3;
const settleMs = 1_000;

const bodyFor = (model: string): string => JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] });
/** Primary `broken/m` (503 at once), fallback `backup/m`. */
const failoverBody = bodyFor('failover');
/** Primary `backup/m` (healthy): the same answer without the failed attempt. */
const healthyBody = bodyFor('healthy');

function configYaml(brokenUrl: string, backupUrl: string): string {
  const provider = (baseUrl: string): Record<string, unknown> => ({ type: 'openai-compatible', baseUrl, keys: [{ key: 'sk-bench' }], models: ['m'] });
  return stringify({
    providers: { broken: provider(brokenUrl), backup: provider(backupUrl) },
    models: {
      failover: { targets: ['broken/m'], fallbacks: ['backup/m'] },
      healthy: { targets: ['backup/m'], fallbacks: ['broken/m'] },
    },
    routing: {
      // Straight to the fallback on a 503, and a breaker that never opens: every request fails over.
      retry: { overloaded: { attempts: 0 } },
      breaker: { consecutiveFailures: 1_000_000_000, minRequests: 1_000_000_000 },
    },
    worker: { concurrency: workerConcurrency },
    kafka: { partitions: { interactive: 12, batch: 12, results: 12 } },
    auth: benchAuth,
  });
}

/** Spillway on this config; both targets of the scenario are this one process. */
async function startFailoverSpillway(ctx: ScenarioContext, services: Services, brokenUrl: string, backup: Upstream): Promise<{ child: Target['child']; origin: string }> {
  const configFile = path.join(ctx.logDir, 'spillway-failover.yaml');
  await writeFile(configFile, configYaml(brokenUrl, backup.url));
  const port = await freePort();
  const { child } = await startChild({
    name: 'spillway-failover',
    command: ctx.options.spillwayBin,
    args: ['start'],
    env: {
      PORT: String(port),
      KAFKA_BROKERS: services.kafkaBrokers,
      REDIS_URL: services.redisUrl,
      LOG_LEVEL: 'error',
      SPILLWAY_CONFIG: configFile,
      SPILLWAY_PREFIX: `bench${Date.now().toString(36)}${randomBytes(3).toString('hex')}`,
    },
    logFile: path.join(ctx.logDir, 'spillway-failover.log'),
  });
  try {
    await waitForOk(`http://127.0.0.1:${port}/readyz`, 90_000, child.exited);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { child, origin: `http://127.0.0.1:${port}` };
}

async function run(ctx: ScenarioContext): Promise<PairedReport> {
  // The failing primary lives in the bench process: a 503 written at once costs it next to nothing,
  // and nothing else can make the fake fail on every request. The answering upstream is a child.
  const broken = await startFakeOpenAI();
  broken.setDefault({ kind: 'status', status: 503 });
  const backup = await startUpstream({ latencyMs: 0, tokenIntervalMs: 0, logDir: ctx.logDir, label: 'failover' });
  try {
    const { child, origin } = await startFailoverSpillway(ctx, ctx.services, broken.url, backup);
    const failingOver: Target = { name: 'failover', child, origin };
    const healthyPrimary: Target = { name: 'healthy', child, origin };
    await prime(healthyPrimary, healthyBody, 60_000);
    await prime(failingOver, failoverBody, 10_000);
    const pids = processPids(ctx, { spillway: child, upstream: backup.child });

    const rates: RateReport[] = [];
    for (const rate of ctx.options.rates ?? defaultRates) rates.push(await runPairs(ctx, { rate, failover: failingOver, healthy: healthyPrimary, pids, broken }));
    await child.stop();
    return {
      kind: 'paired',
      scenario: 'failover',
      measures: failover.measures,
      setup: {
        'primary (failover runs)': '503 at once, from the bench process',
        'fallback upstream latency ms': 0,
        'retries on 503': 0,
        'worker concurrency': workerConcurrency,
        'client connections': ctx.options.connections,
      },
      rates,
    };
  } finally {
    await backup.child.stop();
    await broken.close();
  }
}

interface PairOptions {
  rate: number;
  failover: Target;
  healthy: Target;
  pids: Record<string, number>;
  broken: Awaited<ReturnType<typeof startFakeOpenAI>>;
}

async function runOnce(ctx: ScenarioContext, opts: PairOptions, target: Target, pair: number): Promise<RunRecord> {
  const warmingUp = pair === 0;
  opts.broken.requests.length = 0;
  const load = startLoad({
    origin: target.origin,
    path: '/v1/chat/completions',
    body: target === opts.failover ? failoverBody : healthyBody,
    stream: false,
    rate: opts.rate,
    warmupS: warmingUp ? 0 : ctx.options.warmupS,
    durationS: warmingUp ? warmupRunS : ctx.options.durationS,
    connections: ctx.options.connections,
    timeoutMs: 30_000,
  });
  const result = await load.done;
  const failedAttempts = opts.broken.requests.length;
  opts.broken.requests.length = 0;
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
  const errorCount = Object.values(result.errors).reduce((a, b) => a + b, 0);
  ctx.log(
    `  ${warmingUp ? 'warm-up' : `pair ${pair}`} ${target.name.padEnd(8)} p50 ${record.latency.p50.toFixed(1)} p99 ${record.latency.p99.toFixed(1)} max ${record.latency.p100.toFixed(1)} ms` +
      `  achieved ${result.achievedRate.toFixed(0)}/s  errors ${errorCount}  503s from the primary ${failedAttempts}  lag p99 ${record.sendLag.p99.toFixed(1)} ms`,
  );
  // A failover run where the primary failed nothing measured no failover; a healthy run that
  // touched the primary measured one. Either way the numbers would mean something else.
  if (target === opts.failover && failedAttempts < result.ok) throw new Error(`failover run: ${result.ok} answers but only ${failedAttempts} failed primary attempts`);
  if (target === opts.healthy && failedAttempts > 0) throw new Error(`healthy run: the failing primary was called ${failedAttempts} times`);
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  return record;
}

async function runPairs(ctx: ScenarioContext, opts: PairOptions): Promise<RateReport> {
  ctx.log(`rate ${opts.rate}/s: a ${warmupRunS} s warm-up each, then ${ctx.options.pairs} pairs of ${ctx.options.warmupS}+${ctx.options.durationS} s (failover then healthy)`);
  await runOnce(ctx, opts, opts.failover, 0);
  await runOnce(ctx, opts, opts.healthy, 0);
  const pairs: { subject: RunRecord; baseline: RunRecord }[] = [];
  for (let pair = 1; pair <= ctx.options.pairs; pair++) {
    const subject = await runOnce(ctx, opts, opts.failover, pair);
    const baseline = await runOnce(ctx, opts, opts.healthy, pair);
    pairs.push({ subject, baseline });
  }
  const runs = pairs.flatMap((p) => [p.subject, p.baseline]);
  const byTarget = (fn: (records: RunRecord[]) => number): Record<string, number> => ({
    failover: fn(pairs.map((p) => p.subject)),
    healthy: fn(pairs.map((p) => p.baseline)),
  });
  const errors: Record<string, Record<string, number>> = { failover: {}, healthy: {} };
  for (const r of runs) {
    const sum = errors[r.target] ?? {};
    for (const [key, n] of Object.entries(r.errors)) sum[key] = (sum[key] ?? 0) + n;
    errors[r.target] = sum;
  }
  return {
    rate: opts.rate,
    pairs: pairs.length,
    // The upstream answers at once in both runs: "added" columns are the whole client latency, and
    // failover − healthy is what the failover adds.
    comparisons: [{ metric: 'latency', upstreamMs: 0, rows: comparePairs(pairs.map((p) => ({ subject: p.subject.latency, baseline: p.baseline.latency }))) }],
    achievedRate: byTarget((records) => median(records.map((r) => r.achievedRate))),
    errors,
    sendLagP99: byTarget((records) => median(records.map((r) => r.sendLag.p99))),
    runs,
  };
}

export const failover: Scenario = {
  name: 'failover',
  measures:
    'Non-streaming requests whose primary answers 503 at once and fail over to a healthy backup, vs the same Spillway with a healthy primary (the same upstream): the failover − healthy column is the latency a failover adds.',
  run,
};
