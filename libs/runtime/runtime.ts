// The shared parts every service is handed: configuration, bus, store, providers, telemetry.
// Built once per process from the configuration: Kafka and Redis when configured, the
// in-memory bus and store (the embedded default) when neither is.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config } from '#libs/config/schema.ts';
import { ConfigError } from '#libs/config/load.ts';
import type { Bus } from '#libs/bus/bus.ts';
import { AccountDirectory, authEnabled } from '#libs/governance/directory.ts';
import type { Meter } from '#libs/governance/meter.ts';
import { MemoryMeter } from '#libs/governance/memory-meter.ts';
import { RedisMeter } from '#libs/governance/redis-meter.ts';
import { KafkaBus } from '#libs/bus/kafka.ts';
import { MemoryBus } from '#libs/bus/memory.ts';
import { PlatformaticKafkaBus } from '#libs/bus/platformatic-kafka.ts';
import { topicNames, topicSpecs, type Topics } from '#libs/bus/topics.ts';
import type { Store } from '#libs/store/store.ts';
import { RedisStore } from '#libs/store/redis.ts';
import { MemoryStore } from '#libs/store/memory.ts';
import { ProviderRegistry } from '#libs/providers/registry.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import { createMetrics, type Metrics } from '#libs/telemetry/metrics.ts';

export interface Runtime {
  config: Config;
  bus: Bus;
  store: Store;
  registry: ProviderRegistry;
  logger: Logger;
  metrics: Metrics;
  topics: Topics;
  /** True when running on the in-memory bus and store. */
  embedded: boolean;
  /** Who may call: customers, teams and keys, from the config file and the admin API. */
  auth: AccountDirectory;
  /** Rate limits and budgets, shared by every replica. */
  meter: Meter;
}

export async function createRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const hasKafka = config.kafka.brokers.length > 0;
  const hasRedis = Boolean(config.redis.url);
  if (hasKafka !== hasRedis) {
    throw new ConfigError(hasKafka ? 'redis.url (REDIS_URL) is required when Kafka is configured' : 'kafka.brokers (KAFKA_BROKERS) is required when Redis is configured');
  }
  const embedded = !hasKafka;
  const authOn = authEnabled(config, embedded);
  if (authOn && config.auth.keys.length === 0 && config.admin.key === undefined) {
    throw new ConfigError(
      'auth is on but no key could ever be used: add auth.keys (or SPILLWAY_API_KEYS), set admin.key (SPILLWAY_ADMIN_KEY) to make keys through the admin API, or set auth.enabled: false (SPILLWAY_AUTH_ENABLED=false) to run without authentication',
    );
  }
  const storeOptions = { prefix: config.prefix, resultTtlSeconds: config.results.ttlSeconds, replayTtlSeconds: config.streams.replayTtlSeconds };
  const kafkaOptions = {
    brokers: config.kafka.brokers,
    clientId: config.kafka.clientId,
    logger,
    produceTimeoutMs: config.kafka.produceTimeoutMs,
    fetchMaxWaitMs: config.kafka.fetchMaxWaitMs,
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    replicationFactor: config.kafka.replicationFactor,
  };
  const bus: Bus = embedded
    ? new MemoryBus((err) => logger.error({ err }, 'handler failed; retrying'))
    : config.kafka.client === 'platformatic'
      ? new PlatformaticKafkaBus(kafkaOptions)
      : new KafkaBus(kafkaOptions);
  const store: Store = embedded ? new MemoryStore(storeOptions) : new RedisStore(config.redis.url ?? '', storeOptions, logger);
  try {
    await bus.ensureTopics(topicSpecs(config));
  } catch (err) {
    await Promise.all([bus.close(), store.close()]);
    throw new Error(`cannot create topics on Kafka at ${config.kafka.brokers.join(',')}: ${(err as Error).message}`);
  }
  const auth = new AccountDirectory({ auth: config.auth, enabled: authOn, store, logger });
  const meter: Meter = embedded ? new MemoryMeter() : new RedisMeter(config.redis.url ?? '', config.prefix);
  try {
    await auth.start();
  } catch (err) {
    await Promise.all([bus.close(), store.close(), meter.close()]);
    throw new Error(`cannot load the accounts from Redis: ${(err as Error).message}`);
  }
  return {
    config,
    bus,
    store,
    registry: new ProviderRegistry(config),
    logger,
    metrics: createMetrics(),
    topics: topicNames(config.prefix),
    embedded,
    auth,
    meter,
  };
}

export async function closeRuntime(runtime: Runtime): Promise<void> {
  await runtime.auth.stop();
  await runtime.bus.close();
  await Promise.all([runtime.store.close(), runtime.registry.close(), runtime.meter.close()]);
}

export function instanceId(role: string): string {
  return `${role}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
