// Bus.lag on every bus: a group's lag is what it has not committed (from the topic's start when
// it committed nothing, which it says), summed over partitions, and falls to zero once it consumed everything.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createLogger } from '#libs/telemetry/logger.ts';
import { servicesEnv } from '#test/support/gateway.ts';
import { within } from '#test/support/within.ts';
import type { Bus } from './bus.ts';
import { KafkaBus } from './kafka.ts';
import { MemoryBus } from './memory.ts';
import { PlatformaticKafkaBus } from './platformatic-kafka.ts';

const kafkaOptions = () => ({
  brokers: servicesEnv().kafkaBrokers.split(','),
  clientId: 'lag-test',
  logger: createLogger({ level: 'silent' }),
  produceTimeoutMs: 30_000,
  fetchMaxWaitMs: 100,
  sessionTimeoutMs: 6_000,
});

for (const [name, make, partitions] of [
  ['memory', (): Bus => new MemoryBus(), 1],
  ['kafkajs', (): Bus => new KafkaBus(kafkaOptions()), 2],
  ['platformatic', (): Bus => new PlatformaticKafkaBus(kafkaOptions()), 2],
] as const) {
  describe(`Bus.lag (${name})`, () => {
    const bus = make();
    after(() => bus.close());

    it('counts what a group has not consumed, over every partition, from the start when it committed nothing', async () => {
      const topic = `lag-${randomUUID().slice(0, 8)}`;
      const reader = { groupId: `${topic}.reader`, topic };
      const idle = { groupId: `${topic}.idle`, topic };
      await bus.ensureTopics([{ name: topic, partitions }]);
      await bus.produce(topic, Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: `m${i}` })));
      // Lag counts offsets: a produce retried on a topic whose leader is still being elected can
      // write a message twice (at least once), so the fresh topic may hold more than five.
      const [readerBefore, idleBefore] = await bus.lag([reader, idle]);
      assert.ok(readerBefore.lag >= 5, `lag ${readerBefore.lag} counts the five messages`);
      assert.deepEqual([readerBefore, idleBefore], [
        { ...reader, lag: readerBefore.lag, partitions, committed: false },
        { ...idle, lag: readerBefore.lag, partitions, committed: false },
      ]);

      let handled = 0;
      let allSeen: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (allSeen = resolve));
      const consumer = await bus.consume({
        groupId: reader.groupId,
        topics: [topic],
        concurrency: 4,
        handle: async () => {
          if (++handled === readerBefore.lag) allSeen();
        },
      });
      await within(done, 30_000, 'every message on the topic to be consumed');
      // Stopping commits what was handled.
      await consumer.stop(5_000);
      assert.deepEqual(await bus.lag([reader]), [{ ...reader, lag: 0, partitions, committed: true }]);

      await bus.produce(topic, [{ key: 'k9', value: 'late' }]);
      assert.deepEqual(await bus.lag([reader, idle]), [
        { ...reader, lag: 1, partitions, committed: true },
        { ...idle, lag: readerBefore.lag + 1, partitions, committed: false },
      ]);
    });
  });
}
