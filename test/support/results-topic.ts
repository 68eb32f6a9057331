// Reads `<prefix>.results`, the durable record, from its beginning with a plain Kafka client, as a
// Kafka-native consumer would, so fault tests can check every accepted request has its one answer.
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { resultEnvelopeSchema, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { topicNames } from '#libs/bus/topics.ts';

export interface ResultsTopic {
  /** Every result message read so far, by request id, in the order read. */
  byId: Map<string, ResultEnvelope[]>;
  /** Messages that were not valid result envelopes (raw values). */
  invalid: string[];
  /** Resolves once every id has at least one result; rejects after timeoutMs naming the missing ids. */
  waitFor(ids: Iterable<string>, timeoutMs: number): Promise<void>;
  /** Resolves once check() holds, re-checked as results arrive; rejects with failure() after timeoutMs. */
  until(check: () => boolean, timeoutMs: number, failure: () => string): Promise<void>;
  close(): Promise<void>;
}

export async function readResultsTopic(brokers: string, prefix: string): Promise<ResultsTopic> {
  const kafka = new Kafka({ clientId: 'results-reader', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer: Consumer = kafka.consumer({ groupId: `${prefix}.test-reader-${randomBytes(3).toString('hex')}`, maxWaitTimeInMs: 100 });
  const byId = new Map<string, ResultEnvelope[]>();
  const invalid: string[] = [];
  const arrivals = new EventTarget();
  await consumer.connect();
  await consumer.subscribe({ topics: [topicNames(prefix).results], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const raw = message.value?.toString('utf8') ?? '';
      let parsed: ReturnType<typeof resultEnvelopeSchema.safeParse>;
      try {
        parsed = resultEnvelopeSchema.safeParse(JSON.parse(raw));
      } catch {
        invalid.push(raw);
        return;
      }
      if (!parsed.success) {
        invalid.push(raw);
        return;
      }
      const list = byId.get(parsed.data.id) ?? [];
      list.push(parsed.data);
      byId.set(parsed.data.id, list);
      arrivals.dispatchEvent(new Event('result'));
    },
  });
  const until = (check: () => boolean, timeoutMs: number, failure: () => string): Promise<void> =>
    new Promise((resolve, reject) => {
      if (check()) return resolve();
      const onResult = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        arrivals.removeEventListener('result', onResult);
        resolve();
      };
      const timer = setTimeout(() => {
        arrivals.removeEventListener('result', onResult);
        reject(new Error(failure()));
      }, timeoutMs);
      arrivals.addEventListener('result', onResult);
    });
  return {
    byId,
    invalid,
    until,
    waitFor(ids, timeoutMs) {
      const wanted = [...ids];
      const missing = (): string[] => wanted.filter((id) => !byId.has(id));
      return until(() => missing().length === 0, timeoutMs, () => {
        const gone = missing();
        return `${gone.length} of ${wanted.length} request ids have no result in the results topic after ${timeoutMs} ms: ${gone.slice(0, 10).join(', ')}`;
      });
    },
    close: () => consumer.disconnect(),
  };
}

/**
 * The answer a result carries, for comparing the messages of one request: status, and for a
 * success the upstream completion's id and text. The id differs between two upstream calls, so
 * two executions that both recorded an answer show as two answers even when the texts agree.
 */
export function answerOf(result: ResultEnvelope): string {
  if (result.status !== 'succeeded') return `failed ${result.httpStatus} ${result.error?.code ?? ''}`;
  const response = result.response as { id?: unknown; choices?: { message?: { content?: unknown } }[] } | undefined;
  return `succeeded ${String(response?.id)} ${String(response?.choices?.[0]?.message?.content)}`;
}
