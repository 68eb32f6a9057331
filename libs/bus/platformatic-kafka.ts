// The Kafka bus on @platformatic/kafka, a candidate replacement for the kafkajs bus with the same
// semantics: acks=all produces bounded by a timeout, many handlers in flight per partition, and
// offsets committed by hand, in order, once the work below them is done.
import {
  Admin,
  compatibilityPartitioner,
  Consumer as KafkaConsumer,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializer,
  stringSerializer,
  type ConsumerGroupJoinPayload,
  type Message,
  type MessagesStream,
  type MessageToProduce,
} from '@platformatic/kafka';
import type { Bus, BusMessage, ConsumeOptions, Consumer, ConsumerLag, GroupTopic, OutgoingMessage, TopicSpec } from './bus.ts';
import type { KafkaBusOptions } from './kafka.ts';
import { OffsetTracker, partitionKey } from './offset-tracker.ts';
import { OffsetCommitter } from './offset-committer.ts';
import { Slots } from './slots.ts';
import { ProduceBatcher, type ProduceBatch } from './produce-batcher.ts';
import { retryUntilSettled } from './settle.ts';
import { handleWithRetry } from './retry-handler.ts';

type KafkaMessage = Message<string, Buffer, string, string>;
type Stream = MessagesStream<string, Buffer, string, string>;

const reopenAfterMs = 1_000;
const stringSerializers = { key: stringSerializer, headerKey: stringSerializer, headerValue: stringSerializer };
const stringDeserializers = { key: stringDeserializer, headerKey: stringDeserializer, headerValue: stringDeserializer };

/** Exponential backoff for the library's own retries: 100 ms doubling, at most 2 s. */
function retryDelay(_client: unknown, _operation: string, attempt: number): number {
  return Math.min(100 * 2 ** (attempt - 1), 2_000);
}

let roundRobin = 0;
/**
 * Keyed messages land where kafkajs and the Java client put them (murmur2 & 0x7fffffff), so the two
 * buses agree during a migration; the library's default partitioner differs for half of all keys.
 * Keyless messages go round-robin (the library's compatibility partitioner sends them all to 0).
 */
function javaCompatiblePartitioner(message: MessageToProduce<string, Buffer, string, string>, key: Buffer | undefined): number {
  if (key) return compatibilityPartitioner(message, key);
  roundRobin = (roundRobin + 1) & 0x7fffffff;
  return roundRobin;
}


export class PlatformaticKafkaBus implements Bus {
  readonly durable = true;
  private readonly opts: KafkaBusOptions;
  private producer: Producer<string, Buffer, string, string> | undefined;
  private readonly consumers = new Set<Consumer>();
  private readonly batcher: ProduceBatcher;
  /** Kept for lag(), which a dashboard asks every few seconds. */
  private lagAdmin: Admin | undefined;

  constructor(opts: KafkaBusOptions) {
    this.opts = opts;
    this.batcher = new ProduceBatcher((batches) => this.sendBatch(batches), opts.produceTimeoutMs);
  }

  private base(role: string): { clientId: string; bootstrapBrokers: string[]; connectTimeout: number; timeout: number; retryDelay: typeof retryDelay } {
    return { clientId: `${this.opts.clientId}-${role}`, bootstrapBrokers: this.opts.brokers, connectTimeout: 3_000, timeout: 10_000, retryDelay };
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    const admin = new Admin({ ...this.base('admin'), retries: 10 });
    try {
      // Creating topics races with other creators and with leader election (see settle.ts).
      await retryUntilSettled(async () => {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.name));
        // One call per topic: settings apply to every topic of a call.
        for (const t of missing) {
          await admin.createTopics({
            topics: [{ topic: t.name, partitions: t.partitions, replicas: this.opts.replicationFactor ?? -1 }],
            ...(t.configs ? { configs: Object.entries(t.configs).map(([name, value]) => ({ name, value })) } : {}),
          });
        }
        const metadata = await admin.metadata({ topics: topics.map((t) => t.name), forceUpdate: true });
        return topics.every((t) => {
          const topic = metadata.topics.get(t.name);
          return topic !== undefined && topic.partitionsCount > 0 && topic.partitions.every((p) => p.leader >= 0);
      });
      });
    } finally {
      await admin.close();
    }
  }

  private producerFor(): Producer<string, Buffer, string, string> {
    this.producer ??= new Producer<string, Buffer, string, string>({
      ...this.base('producer'),
      // Bounded, so a produce the caller was told failed does not land minutes later.
      retries: 3,
      acks: ProduceAcks.ALL,
      autocreateTopics: false,
      partitioner: javaCompatiblePartitioner,
      serializers: stringSerializers,
    });
    return this.producer;
  }

  produce(topic: string, messages: OutgoingMessage[]): Promise<void> {
    return this.batcher.produce(topic, messages);
  }

  private async sendBatch(batches: ProduceBatch[]): Promise<void> {
    const out: MessageToProduce<string, Buffer, string, string>[] = [];
    for (const b of batches) {
      for (const m of b.messages) out.push({ topic: b.topic, key: m.key, value: typeof m.value === 'string' ? Buffer.from(m.value) : m.value, headers: m.headers });
    }
    await this.producerFor().send({ acks: ProduceAcks.ALL, messages: out });
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const log = this.opts.logger.child({ component: 'consumer', groupId: options.groupId });
    const consumer = new KafkaConsumer<string, Buffer, string, string>({
      ...this.base('consumer'),
      groupId: options.groupId,
      // Group operations and fetches retry for as long as the broker is away, as kafkajs did.
      retries: true,
      sessionTimeout: this.opts.sessionTimeoutMs,
      rebalanceTimeout: Math.max(60_000, this.opts.sessionTimeoutMs),
      // The library heartbeats on its own timer, so a long handler never starves the session.
      heartbeatInterval: Math.max(500, Math.floor(this.opts.sessionTimeoutMs / 10)),
      deserializers: stringDeserializers,
    });
    const tracker = new OffsetTracker();
    const slots = new Slots(options.concurrency);
    const leaderEpochs = new Map<string, number>();
    const owned = new Set<string>();
    // Messages the stream delivered while every slot was taken; the stream is paused meanwhile.
    const backlog: KafkaMessage[] = [];
    let stream: Stream | undefined;
    let stopping = false;
    let reopenTimer: NodeJS.Timeout | undefined;
    const committer = new OffsetCommitter(
      tracker,
      (offsets) => consumer.commit({ offsets: offsets.map((o) => ({ ...o, offset: BigInt(o.offset), leaderEpoch: leaderEpochs.get(partitionKey(o.topic, o.partition)) ?? -1 })) }),
      log,
    );

    // Registered before consume() joins the group, so ownership is known before the first fetch;
    // partitions handed elsewhere are forgotten, and their buffered messages are not started.
    consumer.on('consumer:group:join', (payload: ConsumerGroupJoinPayload) => {
      owned.clear();
      for (const a of payload.assignments ?? []) for (const p of a.partitions) owned.add(partitionKey(a.topic, p));
      for (const key of tracker.commitable().keys()) if (!owned.has(key)) tracker.drop(key);
    });
    consumer.on('consumer:heartbeat:error', ({ error }) => log.debug({ err: error.message }, 'heartbeat failed'));

    const start = (m: KafkaMessage, key: string): void => {
      const offset = m.offset.toString();
      tracker.begin(key, offset);
      leaderEpochs.set(key, m.leaderEpoch);
      const headers: Record<string, string> = {};
      for (const [name, value] of m.headers) if (value !== undefined) headers[name] = value;
      const message: BusMessage = {
        topic: m.topic,
        partition: m.partition,
        offset,
        key: m.key ?? null,
        value: m.value ?? Buffer.alloc(0),
        headers,
      };
      handleWithRetry(options.handle, message, () => stopping, (err) =>
        log.error({ err, topic: message.topic, partition: message.partition, offset }, 'handler failed; retrying'),
      )
        .then(() => tracker.complete(key, offset))
        .catch((err: unknown) => log.warn({ err, offset }, 'handler abandoned at shutdown; the message will be redelivered'))
        .finally(() => {
          slots.release();
          committer.schedule();
          pump();
        });
    };
    // Starts backlogged messages while slots are free; pausing the stream is the backpressure.
    const pump = (): void => {
      while (backlog.length > 0 && !stopping) {
        if (!slots.tryTake()) {
          stream?.pause();
          return;
        }
        const m = backlog.shift() as KafkaMessage;
        const key = partitionKey(m.topic, m.partition);
        if (owned.has(key)) start(m, key);
        else slots.release();
      }
      if (!stopping && stream?.isPaused()) stream.resume();
    };
    const onMessage = (m: KafkaMessage): void => {
      if (stopping) return;
      const key = partitionKey(m.topic, m.partition);
      if (!owned.has(key)) return;
      if (backlog.length === 0 && slots.tryTake()) {
        start(m, key);
        if (slots.inUse >= slots.limit) stream?.pause();
        return;
      }
      backlog.push(m);
      stream?.pause();
    };

    const open = async (): Promise<void> => {
      const s = await consumer.consume({
        topics: options.topics,
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode: MessagesStreamFallbackModes.EARLIEST,
        autocommit: false,
        maxWaitTime: this.opts.fetchMaxWaitMs,
        minBytes: 1,
        // Fetched-but-unstarted messages are redelivered after a rebalance, so keep few of them.
        highWaterMark: Math.max(16, options.concurrency),
      });
      stream = s;
      s.on('data', onMessage);
      // A stream dies on an error the library would not retry; open a fresh one, as kafkajs's
      // consumer would restart itself. Uncommitted work stays tracked and is committed as before.
      s.on('error', (err: Error) => {
        if (stopping) return;
        log.error({ err: err.message }, 'Kafka consume stream failed; reopening');
        reopenTimer = setTimeout(() => {
          reopenTimer = undefined;
          if (!stopping) open().catch((openErr: unknown) => s.emit('error', openErr));
        }, reopenAfterMs);
      });
    };
    await open();

    const handle: Consumer = {
      inFlight: () => slots.inUse,
      stop: async (graceMs = 10_000) => {
        if (stopping) return;
        stopping = true;
        clearTimeout(reopenTimer);
        stream?.pause();
        backlog.length = 0;
        let graceTimer: NodeJS.Timeout | undefined;
        await Promise.race([slots.idle(), new Promise((resolve) => (graceTimer = setTimeout(resolve, graceMs)))]);
        clearTimeout(graceTimer);
        await committer.final();
        await stream?.close().catch((err: unknown) => log.warn({ err }, 'closing the consume stream failed'));
        // Closing the consumer leaves the group, so its partitions move on without a session timeout.
        await consumer.close(true);
        this.consumers.delete(handle);
      },
    };
    this.consumers.add(handle);
    return handle;
  }

  async lag(groups: GroupTopic[]): Promise<ConsumerLag[]> {
    this.lagAdmin ??= new Admin({ ...this.base('lag'), retries: 1 });
    const admin = this.lagAdmin;
    try {
      const topics = [...new Set(groups.map((g) => g.topic))];
      const metadata = await withTimeout(admin.metadata({ topics, forceUpdate: true }), 5_000);
      const partitionsOf = (topic: string): number[] => Array.from({ length: metadata.topics.get(topic)?.partitionsCount ?? 0 }, (_, i) => i);
      // Timestamp -1 asks for each partition's end offset, -2 for its start.
      const offsetsAt = async (timestamp: bigint): Promise<Map<string, bigint>> => {
        const listed = await admin.listOffsets({ topics: topics.map((name) => ({ name, partitions: partitionsOf(name).map((partitionIndex) => ({ partitionIndex, timestamp })) })) });
        return new Map(listed.flatMap((t) => t.partitions.map((p) => [`${t.name}:${p.partitionIndex}`, p.offset] as const)));
      };
      const [ends, starts, committed] = await withTimeout(
        Promise.all([
          offsetsAt(-1n),
          offsetsAt(-2n),
          admin.listConsumerGroupOffsets({ groups: groups.map(({ groupId, topic }) => ({ groupId, topics: [{ name: topic, partitionIndexes: partitionsOf(topic) }] })) }),
        ]),
        5_000,
      );
      return groups.map(({ groupId, topic }): ConsumerLag => {
        const commits = committed.find((g) => g.groupId === groupId)?.topics.find((t) => t.name === topic)?.partitions ?? [];
        let lag = 0n;
        let anyCommitted = false;
        for (const partition of partitionsOf(topic)) {
          const end = ends.get(`${topic}:${partition}`) ?? 0n;
          const offset = commits.find((c) => c.partitionIndex === partition)?.committedOffset ?? -1n;
          if (offset >= 0n) anyCommitted = true;
          const from = offset >= 0n ? offset : (starts.get(`${topic}:${partition}`) ?? 0n);
          if (end > from) lag += end - from;
        }
        return { groupId, topic, lag: Number(lag), partitions: partitionsOf(topic).length, committed: anyCommitted };
      });
    } catch (err) {
      // The next call starts afresh rather than reusing a client that failed.
      if (this.lagAdmin === admin) this.lagAdmin = undefined;
      await admin.close().catch(() => undefined);
      throw err;
    }
  }

  async ready(): Promise<boolean> {
    const admin = new Admin({ ...this.base('ready'), retries: 0 });
    try {
      await withTimeout(admin.metadata({ topics: [] }), 2_000);
      return true;
    } catch {
      return false;
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    const lagAdmin = this.lagAdmin;
    this.lagAdmin = undefined;
    await lagAdmin?.close().catch(() => undefined);
    const producer = this.producer;
    this.producer = undefined;
    await producer?.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))),
  ]);
}
