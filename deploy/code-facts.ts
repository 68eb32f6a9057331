// What the deployment artefacts (deploy/docker, deploy/compose, deploy/k8s) must agree with, read
// from the code rather than written down twice: each service's port, the CLI's shutdown timing,
// topic and consumer group names, and whether an environment variable does anything at all.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configSchema } from '#libs/config/schema.ts';
import { loadConfig, type PortSection } from '#libs/config/load.ts';
import { createLogger } from '#libs/telemetry/logger.ts';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The service commands the artefacts run, each with the config section whose port it listens on (bin/cli.ts `listensOn`). */
export const roles = { ingest: 'server', worker: 'worker', results: 'results' } as const satisfies Record<string, PortSection>;
export type RoleName = keyof typeof roles;
export const roleNames = Object.keys(roles) as RoleName[];

/** The paths every service serves (libs/http/app.ts); deploy/service-commands.test.ts proves each role answers them. */
export const probePaths = { liveness: '/healthz', readiness: '/readyz' } as const;

export function defaultPort(role: RoleName): number {
  return configSchema.parse({})[roles[role]].port;
}

export function defaultFilesDir(): string {
  return configSchema.parse({}).files.dir;
}

/**
 * bin/cli.ts on SIGTERM: lets work in flight finish for `graceMs`, and exits at the latest
 * `exitByMs` after the signal. An orchestrator's kill timer must not be shorter.
 */
export function shutdownTiming(): { graceMs: number; exitByMs: number } {
  const source = readFileSync(new URL('../bin/cli.ts', import.meta.url), 'utf8');
  const grace = /const shutdownGraceMs = ([\d_]+);/.exec(source);
  const margin = /shutdownGraceMs \+ ([\d_]+)\)/.exec(source);
  if (!grace || !margin) throw new Error('bin/cli.ts no longer declares shutdownGraceMs and its hard-exit margin as deploy/code-facts.ts expects; update both');
  const graceMs = Number(grace[1].replaceAll('_', ''));
  return { graceMs, exitByMs: graceMs + Number(margin[1].replaceAll('_', '')) };
}

/**
 * The consumer groups of services/worker/worker.ts, each with the topic it reads, as keys of
 * groupIds() and topicNames() (libs/bus/topics.ts).
 */
export function workerSubscriptions(): { group: string; topic: string }[] {
  const source = readFileSync(new URL('../services/worker/worker.ts', import.meta.url), 'utf8');
  const found = [...source.matchAll(/groupId: groups\.(\w+),\s*topics: \[runtime\.topics\.(\w+)\]/g)].map((m) => ({ group: m[1], topic: m[2] }));
  if (found.length === 0) throw new Error('services/worker/worker.ts no longer has consume({ groupId: groups.X, topics: [runtime.topics.Y] }) calls as deploy/code-facts.ts expects');
  return found;
}

/** A value that makes a variable visible in the configuration if the gateway reads it at all. */
function sampleValue(name: string, configPath: string | undefined): string {
  const fixed: Record<string, string> = {
    PORT: '18099',
    KAFKA_BROKERS: 'sample-kafka:9092',
    REDIS_URL: 'redis://sample-redis:6379',
    SPILLWAY_PREFIX: 'sample',
    SPILLWAY_API_KEYS: 'sample-key-1,sample-key-2',
    SPILLWAY_ADMIN_KEY: 'sample-admin-key-0123456789',
    SPILLWAY_AUTH_ENABLED: 'false',
    SPILLWAY_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
    LOG_LEVEL: 'debug',
  };
  if (name === 'SPILLWAY_CONFIG') {
    if (!configPath) throw new Error('SPILLWAY_CONFIG is set, so the check needs the file it names');
    return configPath;
  }
  if (fixed[name] !== undefined) return fixed[name];
  if (/_API_KEY$/.test(name)) return 'sk-sample';
  if (/_(BASE_URL|ENDPOINT)$/.test(name)) return 'https://sample.example';
  if (/_(MS|PER_SECOND)$/.test(name)) return '7';
  return 'sample';
}

function loggerLevel(level: string | undefined): string {
  const saved = process.env.LOG_LEVEL;
  try {
    if (level === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = level;
    return createLogger().level;
  } finally {
    if (saved === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = saved;
  }
}

/** Everything the environment decides for one service: its resolved configuration and its log level. */
function observed(env: NodeJS.ProcessEnv, portOf: PortSection): string {
  return `${JSON.stringify(loadConfig({ env, portOf }))}\nlog level ${loggerLevel(env.LOG_LEVEL)}`;
}

/**
 * The variables among `names` that change nothing for a service listening on `portOf`'s port: set
 * together with the others (as an artefact sets them) and then left out one at a time, each must
 * change the resolved configuration or the log level. A misspelt, retired or shadowed variable
 * (a provider key under a config file with its own providers section) is inert.
 */
export function inertVariables(names: readonly string[], portOf: PortSection, configPath?: string): string[] {
  const env = Object.fromEntries(names.map((name) => [name, sampleValue(name, configPath)]));
  const all = observed(env, portOf);
  return names.filter((name) => {
    const { [name]: _left, ...rest } = env;
    return observed(rest, portOf) === all;
  });
}

/** A Go/compose duration ("15s", "1m30s", "500ms") in milliseconds. */
export function durationMs(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: ${text}`);
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]], 0);
}
