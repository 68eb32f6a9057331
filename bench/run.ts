// npm run bench -- [--scenario sync|stream|inflight|batch-ingest|all] [--rates 500,1000]
//   [--duration 6] [--warmup 2] [--pairs 5] [--connections 512] [--out bench/results] [--spillway-bin PATH]
// Starts Kafka and Redis (unless KAFKA_BROKERS and REDIS_URL are set), then per scenario the fake
// upstream, Spillway and the floor proxy; measures; stops every process it started, on error and
// on Ctrl-C too; writes bench-<time>.json and .md (and latest.*) to --out.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalServices } from '#test/support/local-services.ts';
import type { LocalServices } from '#test/support/local-services.ts';
import { repoRoot, stopAll } from './processes.ts';
import { renderMarkdown } from './report.ts';
import type { BenchReport } from './report.ts';
import type { BenchOptions, ScenarioReport } from './scenario.ts';
import { scenarios } from './scenarios/index.ts';
import type { Services } from './targets.ts';

const usage = `Usage: npm run bench -- [options]

  --scenario NAME    ${[...scenarios.map((s) => s.name), 'all'].join(' | ')} (default all)
  --rates LIST       offered requests/s for sync and stream, comma-separated
                     (default: sync 500,1000; stream 200)
  --duration S       measured seconds per run (default 6)
  --warmup S         unrecorded seconds before each run (default 2)
  --pairs N          Spillway/floor pairs per rate, run interleaved (default 5)
  --connections N    client connections per target (default 512)
  --out DIR          where JSON, markdown and process logs go (default bench/results)
  --spillway-bin P   the spillway command to measure (default this checkout's bin/spillway);
                     point it at another checkout to benchmark a fixed commit

Kafka and Redis: uses KAFKA_BROKERS and REDIS_URL when both are set, else starts a private set.

Scenarios:
${scenarios.map((s) => `  ${s.name.padEnd(13)} ${s.measures}`).join('\n')}
`;

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: '${raw}' is not a positive number`);
  return n;
}

function parseOptions(argv: string[]): { names: string[]; options: BenchOptions; out: string } | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'all' },
      rates: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      pairs: { type: 'string' },
      connections: { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
      'spillway-bin': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const known = scenarios.map((s) => s.name);
  const names = values.scenario === 'all' ? known : values.scenario.split(',');
  for (const name of names) if (!known.includes(name)) throw new Error(`--scenario: unknown scenario '${name}' (known: ${known.join(', ')}, all)`);
  const rates = values.rates?.split(',').map((r) => positive('rates', r, 0));
  return {
    names,
    out: path.resolve(values.out),
    options: {
      rates,
      durationS: positive('duration', values.duration, 6),
      warmupS: values.warmup === '0' ? 0 : positive('warmup', values.warmup, 2),
      pairs: Math.round(positive('pairs', values.pairs, 5)),
      connections: Math.round(positive('connections', values.connections, 512)),
      spillwayBin: path.resolve(values['spillway-bin'] ?? path.join(repoRoot, 'bin/spillway')),
    },
  };
}

async function servicePids(dir: string): Promise<Record<string, number>> {
  const pids: Record<string, number> = {};
  for (const name of ['kafka', 'redis']) {
    const pid = Number((await readFile(path.join(dir, `${name}.pid`), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0) pids[name] = pid;
  }
  return pids;
}

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model ?? 'unknown',
    'memory GB': Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    'load average at start': os.loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === undefined) {
    process.stdout.write(usage);
    return 0;
  }
  const { names, options, out } = parsed;
  const started = new Date();
  const logDir = path.join(out, `logs-${stamp(started)}`);
  await mkdir(logDir, { recursive: true });
  const log = (line: string): void => void process.stdout.write(`${line}\n`);

  let local: LocalServices | undefined;
  let stopping = false;
  const cleanUp = async (): Promise<void> => {
    await stopAll();
    if (local !== undefined) await local.clean().catch((err: unknown) => log(`could not clean Kafka/Redis in ${local?.dir}: ${String(err)}`));
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`\n${signal}: stopping every process the bench started`);
    cleanUp().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const reports: ScenarioReport[] = [];
  const failures: BenchReport['failures'] = [];
  try {
    let services: Services;
    const { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl } = process.env;
    if (kafkaBrokers && redisUrl) {
      log(`Kafka ${kafkaBrokers}, Redis ${redisUrl} (from the environment)`);
      services = { kafkaBrokers, redisUrl, pids: {} };
    } else {
      log('starting Kafka and Redis (deploy/local/services.sh)');
      local = await startLocalServices();
      services = { kafkaBrokers: local.kafkaBrokers, redisUrl: local.redisUrl, pids: await servicePids(local.dir) };
    }

    for (const name of names) {
      const scenario = scenarios.find((s) => s.name === name);
      if (scenario === undefined) continue;
      log(`\n== ${scenario.name}: ${scenario.measures}`);
      try {
        const report = await scenario.run({ services, options, logDir, log });
        reports.push(report);
      } catch (err) {
        if (stopping) break;
        const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
        log(`${scenario.name} failed: ${error}`);
        failures.push({ scenario: scenario.name, error });
        // Whatever the failed scenario left running must not load the next one.
        await stopAll();
      }
    }
  } finally {
    if (!stopping) await cleanUp();
  }

  const report: BenchReport = {
    startedAt: started.toISOString(),
    durationS: (Date.now() - started.getTime()) / 1000,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machine(),
    options: { scenarios: names, ...options },
    scenarios: reports,
    failures,
  };
  const markdown = renderMarkdown(report);
  const base = path.join(out, `bench-${stamp(started)}`);
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${base}.md`, markdown);
  await writeFile(path.join(out, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(path.join(out, 'latest.md'), markdown);
  log(`\n${markdown}`);
  log(`wrote ${path.relative(repoRoot, base)}.{json,md}; process logs in ${path.relative(repoRoot, logDir)}`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    await stopAll();
    process.exit(2);
  },
);
