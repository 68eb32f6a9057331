// The kafkajs bus keeps consuming when its consumer stops working: a consumer that neither
// fetches nor waits for a slot is replaced by a new one that rejoins the group.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '#libs/telemetry/logger.ts';
import { startLocalServices, type LocalServices } from '#test/support/local-services.ts';
import { waitForLog } from '#test/support/log-lines.ts';
import { within } from '#test/support/within.ts';
import type { Consumer } from './bus.ts';
import { KafkaBus } from './kafka.ts';

describe('kafkajs bus consumer watchdog', () => {
  let services: LocalServices;
  let bus: KafkaBus;
  let consumer: Consumer | undefined;
  const logs: string[] = [];
  const topic = `watchdog-${randomUUID().slice(0, 8)}`;

  before(async () => {
    services = await startLocalServices({ only: 'kafka' });
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        callback();
      },
    });
    bus = new KafkaBus({
      brokers: services.kafkaBrokers.split(','),
      clientId: 'watchdog-test',
      logger: createLogger({ level: 'info', destination }),
      produceTimeoutMs: 30_000,
      fetchMaxWaitMs: 100,
      sessionTimeoutMs: 6_000,
      consumerStallMs: 3_000,
    });
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  });

  after(async () => {
    await consumer?.stop(1_000);
    await bus?.close();
    await services?.clean();
  });

  it('consumer_stalled_by_a_hung_broker_never_consumes_again: a replacement consumes once the broker answers', async () => {
    const seen = new Set<string>();
    let arrived = (): void => undefined;
    consumer = await bus.consume({
      groupId: `${topic}.group`,
      topics: [topic],
      concurrency: 4,
      handle: async (message) => {
        seen.add(message.value.toString('utf8'));
        arrived();
      },
    });
    const consumed = (value: string): Promise<void> =>
      new Promise((resolve) => {
        arrived = () => seen.has(value) && resolve();
        arrived();
      });

    await bus.produce(topic, [{ value: 'before' }]);
    await consumed('before');

    await services.freeze('kafka');
    const from = logs.length;
    await waitForLog(logs, { msg: 'consumer stopped working; replacing it' }, { from, timeoutMs: 15_000 });
    await services.thaw('kafka');

    await bus.produce(topic, [{ value: 'after' }]);
    // A pending timer keeps the process alive as a server's sockets would, so the unref'd
    // watchdog goes on checking while the test waits.
    await within(consumed('after'), 90_000, "the message produced after the thaw to be consumed");
    await waitForLog(logs, { msg: 'replacement consumer running' }, { from, timeoutMs: 1_000 });
    assert.deepEqual([...seen].sort(), ['after', 'before']);
  });
});
