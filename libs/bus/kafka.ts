// The Kafka bus (kafkajs). Producers wait for all in-sync replicas; consumers fetch with a short
// max wait (the 5 s default would stall every idle hop), run many handlers at once, and commit
// offsets themselves, in order, once the work below them is done.
import { Kafka, logLevel as kafkaLogLevel, Partitioners, type Admin, type Consumer as KafkajsConsumer, type EachBatchPayload, type IHeaders, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from '#libs/telemetry/logger.ts';
import type { Bus, BusMessage, ConsumeOptions, Consumer, ConsumerLag, GroupTopic, OutgoingMessage, TopicSpec } from './bus.ts';
import { OffsetTracker, partitionKey } from './offset-tracker.ts';
import { OffsetCommitter } from './offset-committer.ts';
import { Slots } from './slots.ts';
import { ProduceBatcher, type ProduceBatch } from './produce-batcher.ts';
import { retryUntilSettled } from './settle.ts';
import { kafkaEntryLevel } from './kafka-log-level.ts';
import { handleWithRetry } from './retry-handler.ts';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  produceTimeoutMs: number;
  fetchMaxWaitMs: number;
  sessionTimeoutMs: number;
  replicationFactor?: number;
  /** A consumer with no fetch for this long is replaced; by default 6 session timeouts, at least a minute. */
  consumerStallMs?: number;
}


const heartbeatWhileBlockedMs = 2_000;

export class KafkaBus implements Bus {
  readonly durable = true;
  private readonly kafka: Kafka;
  private readonly opts: KafkaBusOptions;
  private producer: Producer | undefined;
  private producerConnecting: Promise<Producer> | undefined;
  private readonly consumers = new Set<Consumer>();
  private readonly batcher: ProduceBatcher;
  /** Kept connected for lag(), which a dashboard asks every few seconds. */
  private lagAdmin: Promise<Admin> | undefined;

  constructor(opts: KafkaBusOptions) {
    this.opts = opts;
    this.batcher = new ProduceBatcher((batches) => this.sendBatch(batches), opts.produceTimeoutMs);
    const log = opts.logger.child({ component: 'kafka' });
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      connectionTimeout: 3_000,
      requestTimeout: 10_000,
      retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 },
      logLevel: kafkaLogLevel.WARN,
      logCreator: () => (entry: LogEntry) => {
        const { message, ...extra } = entry.log;
        log[kafkaEntryLevel(entry)]({ kafkaNamespace: entry.namespace, ...extra }, message);
      },
    });
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    const admin = this.kafka.admin({ retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 10 } });
    await admin.connect();
    try {
      // Creating topics races with other creators and with leader election (see settle.ts).
      await retryUntilSettled(async () => {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.name));
        if (missing.length > 0) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((t) => ({
              topic: t.name,
              numPartitions: t.partitions,
              ...(t.configs ? { configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })) } : {}),
              ...(this.opts.replicationFactor ? { replicationFactor: this.opts.replicationFactor } : {}),
            })),
          });
        }
        const metadata = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.name) });
        return metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      });
    } finally {
      await admin.disconnect();
    }
  }

  private connectProducer(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    this.producerConnecting ??= (async () => {
      const producer = this.kafka.producer({
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 3 },
      });
      try {
        await producer.connect();
      } catch (err) {
        this.producerConnecting = undefined;
        throw err;
      }
      this.producer = producer;
      return producer;
    })();
    return this.producerConnecting;
  }

  produce(topic: string, messages: OutgoingMessage[]): Promise<void> {
    return this.batcher.produce(topic, messages);
  }

  private async sendBatch(batches: ProduceBatch[]): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const b of batches) byTopic.set(b.topic, [...(byTopic.get(b.topic) ?? []), ...b.messages]);
    const producer = await this.connectProducer();
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })) });
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const log = this.opts.logger.child({ component: 'consumer', groupId: options.groupId });
    const tracker = new OffsetTracker();
    const slots = new Slots(options.concurrency);
    let stopping = false;
    // The time of the last sign that this consumer works: a fetch, a join, a wait for a slot.
    let lastProgress = Date.now();
    const progressed = (): void => {
      lastProgress = Date.now();
    };
    let current: KafkajsConsumer | undefined;
    const committer = new OffsetCommitter(
      tracker,
      (offsets) => (current ? current.commitOffsets(offsets) : Promise.reject(new Error('no consumer is running'))),
      log,
    );

    const eachBatch = async ({ batch, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
      for (const m of batch.messages) {
        if (stopping || !isRunning() || isStale()) return;
        while (!slots.tryTake()) {
          progressed();
          if (!(await slots.wait(heartbeatWhileBlockedMs))) await heartbeat();
          else break;
          if (stopping || !isRunning() || isStale()) return;
        }
        // A slot freed during shutdown must not start a queued message: it is redelivered instead.
        if (stopping || !isRunning() || isStale()) {
          slots.release();
          return;
        }
        const key = partitionKey(batch.topic, batch.partition);
        tracker.begin(key, m.offset);
        const message: BusMessage = {
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key ? m.key.toString() : null,
          value: m.value ?? Buffer.alloc(0),
          headers: headersToStrings(m.headers),
        };
        handleWithRetry(options.handle, message, () => stopping, (err) =>
          log.error({ err, topic: message.topic, partition: message.partition, offset: message.offset }, 'handler failed; retrying'),
        )
          .then(() => tracker.complete(key, m.offset))
          .catch((err: unknown) => log.warn({ err, offset: m.offset }, 'handler abandoned at shutdown; the message will be redelivered'))
          .finally(() => {
            slots.release();
            committer.schedule();
          });
      }
    };

    const start = async (): Promise<KafkajsConsumer> => {
      const consumer = this.kafka.consumer({
        groupId: options.groupId,
        maxWaitTimeInMs: this.opts.fetchMaxWaitMs,
        minBytes: 1,
        sessionTimeout: this.opts.sessionTimeoutMs,
        rebalanceTimeout: 60_000,
        heartbeatInterval: Math.max(500, Math.floor(this.opts.sessionTimeoutMs / 10)),
        allowAutoTopicCreation: false,
        retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: Number.MAX_SAFE_INTEGER },
      });
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        progressed();
        const owned = new Set<string>();
        for (const [topic, partitions] of Object.entries(event.payload.memberAssignment)) {
          for (const p of partitions) owned.add(partitionKey(topic, p));
        }
        for (const key of tracker.commitable().keys()) if (!owned.has(key)) tracker.drop(key);
      });
      consumer.on(consumer.events.FETCH_START, progressed);
      // kafkajs restarts a consumer only after a retriable error; after any other it stays down.
      consumer.on(consumer.events.CRASH, (event) => {
        if (!event.payload.restart) replace(`it crashed and kafkajs will not restart it: ${event.payload.error.message}`);
      });
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: options.topics, fromBeginning: true });
        await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1, eachBatch });
      } catch (err) {
        await withTimeout(consumer.disconnect(), 3_000).catch(() => undefined);
        throw err;
      }
      return consumer;
    };

    current = await start();

    // A consumer that neither fetches nor waits for a slot is stuck (in kafkajs, or on a broker
    // that came back without it): a new one in its place rejoins the group and resumes from the
    // committed offsets, which the claims make safe.
    let replacing: Promise<void> | undefined;
    const replace = (why: string): void => {
      if (stopping || replacing) return;
      log.error({ why }, 'consumer stopped working; replacing it');
      replacing = (async () => {
        await withTimeout(current?.disconnect() ?? Promise.resolve(), 3_000).catch(() => undefined);
        current = undefined;
        for (let delayMs = 500; !stopping; delayMs = Math.min(delayMs * 2, 10_000)) {
          try {
            // A start that hangs (a broker that froze mid-handshake can leave kafkajs waiting on
            // nothing) is given up on and tried again, instead of leaving no consumer at all.
            const starting = start();
            const started = await withTimeout(starting, 3 * this.opts.sessionTimeoutMs).catch((err: unknown) => {
              starting.then((late) => late.disconnect(), () => undefined).catch(() => undefined);
              throw err;
            });
            if (stopping) {
              await withTimeout(started.disconnect(), 3_000).catch(() => undefined);
              return;
            }
            current = started;
            progressed();
            log.info('replacement consumer running');
            return;
          } catch (err) {
            log.warn({ err: (err as Error).message, retryInMs: delayMs }, 'could not start a replacement consumer');
            await new Promise((resolve) => setTimeout(resolve, delayMs));
          }
        }
      })().finally(() => (replacing = undefined));
    };
    const stallMs = this.opts.consumerStallMs ?? Math.max(60_000, 6 * this.opts.sessionTimeoutMs);
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > stallMs) replace(`no fetch for ${Math.round((Date.now() - lastProgress) / 1000)} s`);
    }, stallMs / 6);
    watchdog.unref();

    const handle: Consumer = {
      inFlight: () => slots.inUse,
      stop: async (graceMs = 10_000) => {
        if (stopping) return;
        stopping = true;
        clearInterval(watchdog);
        const consumer = current;
        try {
          if (!consumer) throw new Error('it is being replaced');
          consumer.pause(options.topics.map((topic) => ({ topic })));
        } catch (err) {
          // Not running (the broker is away and kafkajs is restarting it): nothing is fetched anyway.
          log.warn({ err: (err as Error).message }, 'could not pause the consumer; stopping without it');
        }
        let graceTimer: NodeJS.Timeout | undefined;
        await Promise.race([slots.idle(), new Promise((resolve) => (graceTimer = setTimeout(resolve, graceMs)))]);
        clearTimeout(graceTimer);
        // With the broker away a commit would retry for as long as the consumer does (forever);
        // what is not committed now is redelivered, which the claims make harmless.
        await withTimeout(committer.final(), 3_000).catch(() => log.warn('final offset commit did not finish; uncommitted work will be redelivered'));
        // Leaving the group cannot wait on a broker that is away: the session timeout does it then.
        if (consumer) await withTimeout(consumer.disconnect(), 3_000).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'consumer disconnect failed'));
        this.consumers.delete(handle);
      },
    };
    this.consumers.add(handle);
    return handle;
  }

  async lag(groups: GroupTopic[]): Promise<ConsumerLag[]> {
    this.lagAdmin ??= (async () => {
      const admin = this.kafka.admin({ retry: { initialRetryTime: 100, maxRetryTime: 500, retries: 1 } });
      await admin.connect();
      return admin;
    })();
    const connecting = this.lagAdmin;
    try {
      const admin = await withTimeout(connecting, 5_000);
      const topics = [...new Set(groups.map((g) => g.topic))];
      const ends = new Map(await withTimeout(Promise.all(topics.map(async (topic) => [topic, await admin.fetchTopicOffsets(topic)] as const)), 5_000));
      return await withTimeout(
        Promise.all(
          groups.map(async ({ groupId, topic }): Promise<ConsumerLag> => {
            const [committed] = await retriable(() => admin.fetchOffsets({ groupId, topics: [topic] }));
            const partitions = ends.get(topic) ?? [];
            let lag = 0;
            let anyCommitted = false;
            for (const p of partitions) {
              const offset = Number(committed?.partitions.find((c) => c.partition === p.partition)?.offset ?? -1);
              if (offset >= 0) anyCommitted = true;
              lag += Math.max(0, Number(p.high) - (offset >= 0 ? offset : Number(p.low)));
            }
            return { groupId, topic, lag, partitions: partitions.length, committed: anyCommitted };
          }),
        ),
        5_000,
      );
    } catch (err) {
      // The next call connects afresh rather than reusing a connection that failed.
      if (this.lagAdmin === connecting) this.lagAdmin = undefined;
      void connecting.then((admin) => admin.disconnect()).catch(() => undefined);
      throw err;
    }
  }

  async ready(): Promise<boolean> {
    const admin = this.kafka.admin();
    try {
      await withTimeout(admin.connect().then(() => admin.describeCluster()), 2_000);
      return true;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    const lagAdmin = this.lagAdmin;
    this.lagAdmin = undefined;
    await withTimeout(lagAdmin?.then((admin) => admin.disconnect()) ?? Promise.resolve(), 3_000).catch(() => undefined);
    await withTimeout(this.producer?.disconnect() ?? Promise.resolve(), 3_000).catch(() => undefined);
    this.producer = undefined;
    this.producerConnecting = undefined;
  }
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.map(String).join(',') : value.toString();
  }
  return out;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))),
  ]);
}

/**
 * Runs an admin call again while kafkajs says its error is retriable: a group's coordinator can
 * move or still be loading (NOT_COORDINATOR), and kafkajs does not retry offset fetches itself.
 */
async function retriable<T>(call: () => Promise<T>, attempts = 6): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= attempts || (err as { retriable?: boolean }).retriable !== true) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
