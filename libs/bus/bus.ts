// The message bus interface: Kafka in production, an in-memory bus in the embedded default.
// A consumer runs many handlers at once and commits, per partition, only the offsets below
// which every message has been handled, so a crash redelivers unfinished work instead of losing it.

export interface BusMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

export interface OutgoingMessage {
  key?: string;
  value: string | Buffer;
  headers?: Record<string, string>;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Topic-level settings made at creation (e.g. `retention.ms`). */
  configs?: Record<string, string>;
}

export interface ConsumeOptions {
  groupId: string;
  topics: string[];
  /** Handlers running at once across all partitions; fetching pauses at the limit. */
  concurrency: number;
  /** Must not throw for a bad message (dead-letter it instead); a throw is retried. */
  handle: (message: BusMessage) => Promise<void>;
}

export interface Consumer {
  /** Stops fetching, waits for in-flight handlers up to graceMs, commits what finished. */
  stop(graceMs?: number): Promise<void>;
  inFlight(): number;
}

/** A consumer group and one topic it reads. */
export interface GroupTopic {
  groupId: string;
  topic: string;
}

export interface ConsumerLag extends GroupTopic {
  /** Messages on the topic past the group's committed offsets (from the start where it committed none), all partitions summed. */
  lag: number;
  partitions: number;
  /** False when the group has committed no offset on the topic: it may not be running at all. */
  committed: boolean;
}

export interface Bus {
  readonly durable: boolean;
  ensureTopics(topics: TopicSpec[]): Promise<void>;
  produce(topic: string, messages: OutgoingMessage[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<Consumer>;
  /** How far each group is behind the end of its topic: committed offsets against end offsets. */
  lag(groups: GroupTopic[]): Promise<ConsumerLag[]>;
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export class BusUnavailableError extends Error {}
