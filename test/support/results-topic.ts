// Reads `<prefix>.results`, the durable record, from its beginning with a plain Kafka client, as a
// Kafka-native consumer would, so fault tests can check every accepted request has its one answer.
import { readResult, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { topicNames } from '#libs/bus/topics.ts';
import { readTopic } from './topic-reader.ts';

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
  const byId = new Map<string, ResultEnvelope[]>();
  const invalid: string[] = [];
  const reader = await readTopic(brokers, topicNames(prefix).results, (raw) => {
    const parsed = readResult(Buffer.from(raw));
    if (!parsed) {
      invalid.push(raw);
      return;
    }
    const list = byId.get(parsed.id) ?? [];
    list.push(parsed);
    byId.set(parsed.id, list);
  });
  const until = (check: () => boolean, timeoutMs: number, failure: () => string): Promise<void> => reader.until(check, timeoutMs, failure);
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
    close: () => reader.close(),
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
