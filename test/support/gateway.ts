// Starts a gateway in this test process: on the real Kafka and Redis the test runner started
// (KAFKA_BROKERS, REDIS_URL), or on the embedded in-memory default. Each gateway gets its own
// prefix, so test files running in parallel never see each other's topics or keys.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '#libs/config/load.ts';
import { capturingLogger } from './log-lines.ts';
import { startGateway, type Gateway, type Role } from '#services/gateway.ts';

export type Mode = 'kafka' | 'embedded';

export const modes: Mode[] = ['kafka', 'embedded'];

export interface TestGateway extends Gateway {
  prefix: string;
  /** Every log line this gateway wrote. */
  logs: string[];
}

export interface TestGatewayOptions {
  mode: Mode;
  roles?: Role[];
  /** Raw config (as it would be in spillway.yaml) merged over the defaults. */
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  kafkaBrokers?: string;
  redisUrl?: string;
  /** Share another gateway's prefix: replicas of one deployment. Fresh by default. */
  prefix?: string;
}

export function servicesEnv(): { kafkaBrokers: string; redisUrl: string } {
  const kafkaBrokers = process.env.KAFKA_BROKERS;
  const redisUrl = process.env.REDIS_URL;
  if (!kafkaBrokers || !redisUrl) {
    throw new Error('KAFKA_BROKERS and REDIS_URL are not set: run the tests with `npm test`, which starts Kafka and Redis (deploy/local/services.sh).');
  }
  return { kafkaBrokers, redisUrl };
}

export function uniquePrefix(): string {
  return `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export async function startTestGateway(opts: TestGatewayOptions): Promise<TestGateway> {
  const prefix = opts.prefix ?? uniquePrefix();
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? {}) };
  if (opts.mode === 'kafka') {
    const services = opts.kafkaBrokers && opts.redisUrl ? { kafkaBrokers: opts.kafkaBrokers, redisUrl: opts.redisUrl } : servicesEnv();
    env.KAFKA_BROKERS = services.kafkaBrokers;
    env.REDIS_URL = services.redisUrl;
  }
  const config = loadConfig({
    env,
    overrides: (raw) => {
      // Tests that are not about keys run open, as they say explicitly; the rest configure auth.
      const open = opts.config?.auth === undefined && opts.config?.admin === undefined ? { auth: { enabled: false } } : {};
      Object.assign(raw, merge(raw, { prefix, kafka: { partitions: { interactive: 2, batch: 2, results: 2 } }, ...open, ...(opts.config ?? {}) }));
    },
  });
  const { logger, logs } = capturingLogger();
  const gateway = await startGateway({ config, logger, roles: opts.roles ?? ['ingest', 'worker', 'results'], port: 0, host: '127.0.0.1' });
  return Object.assign(gateway, { prefix, logs });
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const existing = out[key];
    out[key] =
      isPlainObject(existing) && isPlainObject(value) ? merge(existing, value) : value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
