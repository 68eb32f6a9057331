// The @platformatic/kafka bus against a real broker: what reaches a handler, which offsets a
// restart redelivers, how many handlers run at once, what stop() waits for, and how a produce
// fails when the broker is gone.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createLogger } from '#libs/telemetry/logger.ts';
import { startLocalServices, type LocalServices } from '#test/support/local-services.ts';
import { BusUnavailableError, type BusMessage } from './bus.ts';
import { PlatformaticKafkaBus } from './platformatic-kafka.ts';

const logger = createLogger({ level: 'silent' });

function brokers(): string[] {
  const value = process.env.KAFKA_BROKERS;
  if (!value) throw new Error('KAFKA_BROKERS is not set; run through npm test');
  return value.split(',');
}

function newBus(brokerList: string[], overrides: { produceTimeoutMs?: number; sessionTimeoutMs?: number } = {}): PlatformaticKafkaBus {
  return new PlatformaticKafkaBus({
    brokers: brokerList,
    clientId: 'plt-test',
    logger,
    produceTimeoutMs: overrides.produceTimeoutMs ?? 5_000,
    fetchMaxWaitMs: 100,
    sessionTimeoutMs: overrides.sessionTimeoutMs ?? 10_000,
  });
}

/** Resolves once check() holds; re-checked whenever the test signals a change. */
class Changes {
  private readonly target = new EventTarget();
  signal(): void {
    this.target.dispatchEvent(new Event('change'));
  }
  until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      if (check()) return resolve();
      const listener = (): void => {
        if (!check()) return;
        this.target.removeEventListener('change', listener);
        resolve();
      };
      this.target.addEventListener('change', listener);
    });
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('platformatic kafka bus', () => {
  let bus: PlatformaticKafkaBus;
  const prefix = `plt-${randomUUID().slice(0, 8)}`;

  before(() => {
    bus = newBus(brokers());
  });

  after(async () => {
    await bus?.close();
  });

  it('delivers value, key and headers, and keyless messages too', async () => {
    const topic = `${prefix}.roundtrip`;
    await bus.ensureTopics([{ name: topic, partitions: 3 }]);
    const received: BusMessage[] = [];
    const changes = new Changes();
    const consumer = await bus.consume({
      groupId: `${prefix}.roundtrip`,
      topics: [topic],
      concurrency: 4,
      handle: async (m) => {
        received.push(m);
        changes.signal();
      },
    });
    await bus.produce(topic, [
      { key: 'req-1', value: '{"hello":"world"}', headers: { 'spillway-id': 'req-1', traceparent: '00-abc-def-01' } },
      { value: Buffer.from([0, 1, 2, 255]) },
    ]);
    await changes.until(() => received.length === 2);
    await consumer.stop();

    const keyed = received.find((m) => m.key === 'req-1');
    assert.ok(keyed);
    assert.equal(keyed.value.toString(), '{"hello":"world"}');
    assert.deepEqual(keyed.headers, { 'spillway-id': 'req-1', traceparent: '00-abc-def-01' });
    assert.equal(keyed.topic, topic);
    const keyless = received.find((m) => m.key === null);
    assert.ok(keyless);
    assert.deepEqual([...keyless.value], [0, 1, 2, 255]);
    assert.deepEqual(keyless.headers, {});
  });

  it('puts keyed messages on the partition kafkajs and the Java client pick', async () => {
    const topic = `${prefix}.partitioning`;
    await bus.ensureTopics([{ name: topic, partitions: 5 }]);
    const partitions = new Map<string, number>();
    const changes = new Changes();
    const consumer = await bus.consume({
      groupId: `${prefix}.partitioning`,
      topics: [topic],
      concurrency: 8,
      handle: async (m) => {
        partitions.set(m.key ?? '', m.partition);
        changes.signal();
      },
    });
    // Partitions computed by kafkajs's DefaultPartitioner (murmur2 & 0x7fffffff) for 5 partitions.
    const expected = new Map([
      ['a', 4],
      ['b', 1],
      ['c', 4],
      ['request-123', 3],
      ['tenant-42', 1],
    ]);
    await bus.produce(topic, [...expected.keys()].map((key) => ({ key, value: key })));
    await changes.until(() => partitions.size === expected.size);
    await consumer.stop();
    assert.deepEqual(partitions, expected);
  });

  it('commits only the contiguous prefix when handlers finish out of order, so a restart redelivers from the first unfinished one', async () => {
    const topic = `${prefix}.ordering`;
    const groupId = `${prefix}.ordering`;
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.produce(topic, [0, 1, 2, 3, 4].map((i) => ({ value: `m${i}` })));

    const finished: string[] = [];
    const started: string[] = [];
    const changes = new Changes();
    const stuck = deferred();
    const first = await bus.consume({
      groupId,
      topics: [topic],
      concurrency: 10,
      handle: async (m) => {
        started.push(m.offset);
        changes.signal();
        if (m.offset === '1') await stuck.promise;
        finished.push(m.offset);
        changes.signal();
      },
    });
    await changes.until(() => started.length === 5 && finished.length === 4);
    assert.deepEqual([...finished].sort(), ['0', '2', '3', '4']);
    // Offset 1 is still running when the grace runs out: only offset 0 may be committed.
    await first.stop(50);
    stuck.resolve();

    const redelivered: string[] = [];
    const second = await bus.consume({
      groupId,
      topics: [topic],
      concurrency: 10,
      handle: async (m) => {
        redelivered.push(m.offset);
        changes.signal();
      },
    });
    await changes.until(() => redelivered.length >= 4);
    await second.stop();
    assert.deepEqual([...redelivered].sort(), ['1', '2', '3', '4']);
  });

  it('never runs more handlers at once than the concurrency limit', async () => {
    const topic = `${prefix}.concurrency`;
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    const total = 20;
    const limit = 3;
    await bus.produce(topic, Array.from({ length: total }, (_, i) => ({ value: `m${i}` })));

    let running = 0;
    let maxRunning = 0;
    let done = 0;
    let gate = deferred();
    const changes = new Changes();
    const consumer = await bus.consume({
      groupId: `${prefix}.concurrency`,
      topics: [topic],
      concurrency: limit,
      handle: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        changes.signal();
        await gate.promise;
        running--;
        done++;
        changes.signal();
      },
    });
    while (done < total) {
      // Every message is fetched long before the first handler finishes, so each round fills the limit.
      await changes.until(() => running === Math.min(limit, total - done));
      assert.equal(consumer.inFlight(), running);
      const release = gate;
      gate = deferred();
      const before = done;
      release.resolve();
      await changes.until(() => done > before);
    }
    await consumer.stop();
    assert.equal(maxRunning, limit);
  });

  it('stop() waits for in-flight handlers and commits their work', async () => {
    const topic = `${prefix}.stop`;
    const groupId = `${prefix}.stop`;
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.produce(topic, [{ value: 'slow' }]);
    const events: string[] = [];
    const changes = new Changes();
    const release = deferred();
    const consumer = await bus.consume({
      groupId,
      topics: [topic],
      concurrency: 1,
      handle: async () => {
        events.push('started');
        changes.signal();
        await release.promise;
        events.push('finished');
      },
    });
    await changes.until(() => events.includes('started'));
    const stopped = consumer.stop(30_000).then(() => events.push('stopped'));
    // Let the handler go only after stop() has begun waiting for it.
    setImmediate(release.resolve);
    await stopped;
    assert.deepEqual(events, ['started', 'finished', 'stopped']);

    // The finished message was committed: a new consumer in the group sees only what comes after it.
    const seen: string[] = [];
    const next = await bus.consume({
      groupId,
      topics: [topic],
      concurrency: 1,
      handle: async (m) => {
        seen.push(m.value.toString());
        changes.signal();
      },
    });
    await bus.produce(topic, [{ value: 'after' }]);
    await changes.until(() => seen.length > 0);
    await next.stop();
    assert.deepEqual(seen, ['after']);
  });

  it('keeps the group membership through a handler longer than the session timeout', async () => {
    const topic = `${prefix}.long`;
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.produce(topic, [{ value: 'long' }]);
    // 6 s is the broker's smallest allowed session timeout.
    const sessionBus = newBus(brokers(), { sessionTimeoutMs: 6_000 });
    let calls = 0;
    const changes = new Changes();
    try {
      const consumer = await sessionBus.consume({
        groupId: `${prefix}.long`,
        topics: [topic],
        concurrency: 1,
        handle: async () => {
          calls++;
          // The handler itself is slow: the wait is the point of the test.
          await new Promise((resolve) => setTimeout(resolve, 8_000));
          changes.signal();
        },
      });
      await changes.until(() => calls >= 1);
      await consumer.stop();
    } finally {
      await sessionBus.close();
    }
    // A missed session would rebalance and hand the message to this consumer a second time.
    assert.equal(calls, 1);
  });
});

describe('platformatic kafka bus without a broker', () => {
  let services: LocalServices;
  let bus: PlatformaticKafkaBus;

  before(async () => {
    services = await startLocalServices({ only: 'kafka' });
    bus = newBus(services.kafkaBrokers.split(','), { produceTimeoutMs: 2_000 });
  });

  after(async () => {
    await bus?.close();
    await services?.clean();
  });

  it('fails a produce with BusUnavailableError within the produce timeout once the broker stops, and recovers after', async () => {
    const topic = 'plt-outage';
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.produce(topic, [{ value: 'before' }]);
    assert.equal(await bus.ready(), true);

    await services.stop('kafka');
    const startedAt = Date.now();
    await assert.rejects(bus.produce(topic, [{ value: 'during' }]), BusUnavailableError);
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed < 2_000 + 500, `produce took ${elapsed} ms to fail`);
    assert.equal(await bus.ready(), false);

    await services.start('kafka');
    await bus.produce(topic, [{ value: 'after' }]);
  });
});
