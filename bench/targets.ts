// The processes a scenario measures: the fake upstream, Spillway on real Kafka and Redis, and the
// floor proxy — each its own child process, so each has its own RSS and its own event loop.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, nodeScript, startChild, waitForOk } from './processes.ts';
import type { Child } from './processes.ts';

export interface Services {
  kafkaBrokers: string;
  redisUrl: string;
  /** Pids of Kafka and Redis when the bench started them (so their memory can be read). */
  pids: Record<string, number>;
}

export interface Upstream {
  child: Child;
  /** Base URL ending in /v1, as the fake prints it. */
  url: string;
  port: number;
  latencyMs: number;
  tokenIntervalMs: number;
}

export interface Target {
  /** `spillway` or `floor`. */
  name: string;
  child: Child;
  origin: string;
  /** Request headers of its own (another client key, say): two targets may share one process. */
  headers?: Record<string, string>;
}

export async function startUpstream(opts: { latencyMs: number; tokenIntervalMs: number; logDir: string; label: string }): Promise<Upstream> {
  const { child, announced } = await startChild({
    name: `upstream-${opts.label}`,
    command: nodeScript,
    args: ['test/fakes/openai-upstream.ts', '--port', '0', '--latency-ms', String(opts.latencyMs), '--token-interval-ms', String(opts.tokenIntervalMs)],
    logFile: path.join(opts.logDir, `upstream-${opts.label}.log`),
    announce: 'FAKE_OPENAI_URL',
  });
  const url = announced ?? '';
  return { child, url, port: Number(new URL(url).port), latencyMs: opts.latencyMs, tokenIntervalMs: opts.tokenIntervalMs };
}

export async function startFloor(opts: { upstream: Upstream; logDir: string; label: string }): Promise<Target> {
  const { child, announced } = await startChild({
    name: `floor-${opts.label}`,
    command: nodeScript,
    args: ['bench/floor-proxy.ts', '--upstream', opts.upstream.url, '--port', '0'],
    logFile: path.join(opts.logDir, `floor-${opts.label}.log`),
    announce: 'FLOOR_URL',
  });
  return { name: 'floor', child, origin: announced ?? '' };
}

/** The yaml a bench Spillway runs on: one OpenAI provider pointing at the fake; `extra`, more top-level lines. */
export function spillwayConfigYaml(opts: { upstreamUrl: string; workerConcurrency: number; batchConcurrency?: number | undefined; extra?: string[] | undefined }): string {
  return [
    'providers:',
    `  openai: { type: openai, baseUrl: ${opts.upstreamUrl}, keys: [{ key: sk-bench }], models: [gpt-4o-mini] }`,
    `worker: { concurrency: ${opts.workerConcurrency}${opts.batchConcurrency === undefined ? '' : `, batchConcurrency: ${opts.batchConcurrency}`} }`,
    // BENCH_KAFKA_CLIENT=platformatic measures the alternative Kafka client.
    `kafka: { client: ${process.env.BENCH_KAFKA_CLIENT ?? 'kafkajs'}, partitions: { interactive: 12, batch: 12, results: 12 } }`,
    ...((opts.extra ?? []).some((line) => line.startsWith('auth:')) ? [] : [`auth: ${JSON.stringify(benchAuth)}`]),
    ...(opts.extra ?? []),
    '',
  ].join('\n');
}

/** The client key every bench request sends (`Authorization: Bearer sk-bench`): authentication stays on, as in production. */
export const benchAuth = { keys: [{ id: 'bench', key: 'sk-bench' }] };

/** A fresh prefix: its topics start empty and no earlier run's consumer group lingers. */
export function benchPrefix(): string {
  return `bench${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export async function startSpillway(opts: {
  bin: string;
  upstream: Upstream;
  services: Services;
  workerConcurrency: number;
  logDir: string;
  label: string;
  /** `start` (all-in-one, the default), or one role of a split deployment. */
  command?: 'start' | 'ingest' | 'worker';
  /** Shared by the processes of one split deployment; fresh by default. */
  prefix?: string;
  /** worker.batchConcurrency; the config's default when unset. */
  batchConcurrency?: number;
  /** More top-level YAML lines for the config file (not `worker`). */
  config?: string[];
}): Promise<Target> {
  const command = opts.command ?? 'start';
  const label = command === 'start' ? opts.label : `${opts.label}-${command}`;
  const configFile = path.join(opts.logDir, `spillway-${label}.yaml`);
  await writeFile(configFile, spillwayConfigYaml({ upstreamUrl: opts.upstream.url, workerConcurrency: opts.workerConcurrency, batchConcurrency: opts.batchConcurrency, extra: opts.config }));
  const port = await freePort();
  const prefix = opts.prefix ?? benchPrefix();
  const { child } = await startChild({
    name: `spillway-${label}`,
    command: opts.bin,
    args: [command, '--port', String(port)],
    env: {
      PORT: String(port),
      KAFKA_BROKERS: opts.services.kafkaBrokers,
      REDIS_URL: opts.services.redisUrl,
      LOG_LEVEL: 'warn',
      SPILLWAY_CONFIG: configFile,
      SPILLWAY_PREFIX: prefix,
    },
    logFile: path.join(opts.logDir, `spillway-${label}.log`),
  });
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitForOk(`${origin}/readyz`, 90_000, child.exited);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { name: command === 'start' ? 'spillway' : `spillway ${command}`, child, origin };
}

/** Sends one request and waits for its answer: a gateway may say ready before its consumer group owns partitions. */
export async function prime(target: Target, body: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${target.origin}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
        body,
        signal: AbortSignal.timeout(Math.max(1_000, deadline - Date.now())),
      });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${target.name} did not answer a first request within ${timeoutMs} ms (${last})`);
}
