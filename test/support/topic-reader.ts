// Reads one topic from its beginning with a plain Kafka client, keeping every message's value,
// so a test can wait for what Spillway wrote (audit records, usage events, dead letters).
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

export interface TopicReader {
  /** Every message value read so far, in order. */
  values: string[];
  /** Resolves once check() holds, re-checked as messages arrive; rejects with failure() after timeoutMs. */
  until(check: (values: string[]) => boolean, timeoutMs: number, failure: () => string): Promise<void>;
  close(): Promise<void>;
}

/** `onValue` sees each value as it arrives, before any wait re-checks: a reader can index them. */
export async function readTopic(brokers: string, topic: string, onValue?: (value: string) => void): Promise<TopicReader> {
  const kafka = new Kafka({ clientId: 'topic-reader', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${topic}.test-reader-${randomBytes(3).toString('hex')}`, maxWaitTimeInMs: 100 });
  const values: string[] = [];
  const arrivals = new EventTarget();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const value = message.value?.toString('utf8') ?? '';
      values.push(value);
      onValue?.(value);
      arrivals.dispatchEvent(new Event('message'));
    },
  });
  return {
    values,
    until: (check, timeoutMs, failure) =>
      new Promise((resolve, reject) => {
        if (check(values)) return resolve();
        const onMessage = (): void => {
          if (!check(values)) return;
          clearTimeout(timer);
          arrivals.removeEventListener('message', onMessage);
          resolve();
        };
        const timer = setTimeout(() => {
          arrivals.removeEventListener('message', onMessage);
          reject(new Error(failure()));
        }, timeoutMs);
        arrivals.addEventListener('message', onMessage);
      }),
    close: () => consumer.disconnect(),
  };
}
