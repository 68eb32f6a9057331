// A message that cannot be understood goes to the dead-letter topic, untouched, with the reason
// and its origin in headers; the consumer then carries on.
import type { Bus, BusMessage } from './bus.ts';

export async function deadLetter(bus: Bus, dlqTopic: string, message: BusMessage, reason: string): Promise<void> {
  await bus.produce(dlqTopic, [
    {
      key: message.key ?? undefined,
      value: message.value,
      headers: { ...message.headers, 'spillway-dlq-reason': reason.slice(0, 1_000), 'spillway-dlq-source': `${message.topic}/${message.partition}/${message.offset}` },
    },
  ]);
}
