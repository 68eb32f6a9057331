// The in-memory bus of the embedded default: same interface, same consumer semantics, one
// process, nothing durable.
import type { Bus, BusMessage, ConsumeOptions, Consumer, ConsumerLag, GroupTopic, OutgoingMessage, TopicSpec } from './bus.ts';
import { Slots } from './slots.ts';
import { handleWithRetry } from './retry-handler.ts';
import { withTraceHeaders } from './trace-headers.ts';

interface Topic {
  log: BusMessage[];
  listeners: Set<() => void>;
}

export class MemoryBus implements Bus {
  readonly durable = false;
  private readonly topics = new Map<string, Topic>();
  private readonly groupOffsets = new Map<string, number>();
  private readonly consumers = new Set<Consumer>();
  private readonly onHandlerError: (err: unknown) => void;

  constructor(onHandlerError: (err: unknown) => void = () => undefined) {
    this.onHandlerError = onHandlerError;
  }

  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    for (const t of topics) this.topic(t.name);
  }

  private topic(name: string): Topic {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = { log: [], listeners: new Set() };
      this.topics.set(name, topic);
    }
    return topic;
  }

  async produce(topicName: string, messages: OutgoingMessage[]): Promise<void> {
    const topic = this.topic(topicName);
    for (const m of withTraceHeaders(messages)) {
      topic.log.push({
        topic: topicName,
        partition: 0,
        offset: String(topic.log.length),
        key: m.key ?? null,
        value: typeof m.value === 'string' ? Buffer.from(m.value) : m.value,
        headers: { ...(m.headers ?? {}) },
      });
    }
    for (const listener of topic.listeners) listener();
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const slots = new Slots(options.concurrency);
    let stopping = false;
    const pumps: (() => void)[] = [];
    for (const name of options.topics) {
      const topic = this.topic(name);
      const groupKey = `${options.groupId}\u0000${name}`;
      let pumping = false;
      const pump = (): void => {
        if (pumping) return;
        pumping = true;
        void (async () => {
          while (!stopping) {
            const next = this.groupOffsets.get(groupKey) ?? 0;
            const message = topic.log[next];
            if (!message) break;
            if (!slots.tryTake()) {
              let got = false;
              while (!got && !stopping) got = await slots.wait(1_000);
              if (!got) break;
              if (stopping) {
                slots.release();
                break;
              }
            }
            this.groupOffsets.set(groupKey, next + 1);
            handleWithRetry(options.handle, message, () => stopping, (err) => this.onHandlerError(err))
              .catch(() => undefined)
              .finally(() => {
                slots.release();
              });
          }
          pumping = false;
        })();
      };
      topic.listeners.add(pump);
      pumps.push(() => topic.listeners.delete(pump));
      pump();
    }
    const consumer: Consumer = {
      inFlight: () => slots.inUse,
      stop: async (graceMs = 10_000) => {
        stopping = true;
        for (const remove of pumps) remove();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([slots.idle(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
        clearTimeout(timer);
        this.consumers.delete(consumer);
      },
    };
    this.consumers.add(consumer);
    return consumer;
  }

  /** Here a message counts as consumed once a handler has it: nothing is redelivered after a crash anyway. */
  async lag(groups: GroupTopic[]): Promise<ConsumerLag[]> {
    return groups.map(({ groupId, topic }) => {
      const end = this.topics.get(topic)?.log.length ?? 0;
      const next = this.groupOffsets.get(`${groupId}\u0000${topic}`);
      return { groupId, topic, lag: end - (next ?? 0), partitions: 1, committed: next !== undefined };
    });
  }

  async ready(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
  }
}
