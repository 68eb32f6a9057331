import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { startLocalServices } from './local-services.ts';

function admin(brokers: string) {
  const kafka = new Kafka({
    clientId: 'local-services-test',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  });
  return kafka.admin({ retry: { retries: 0 } });
}

async function listTopics(brokers: string): Promise<string[]> {
  const client = admin(brokers);
  try {
    await client.connect();
    return await client.listTopics();
  } finally {
    await client.disconnect().catch(() => undefined);
  }
}

async function ping(url: string): Promise<string> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await redis.ping();
  } finally {
    redis.disconnect();
  }
}

test('a stopped private broker refuses connections, then restarts on the same address with its topics', async (t) => {
  const services = await startLocalServices({ only: 'kafka' });
  t.after(() => services.clean());
  const brokers = services.kafkaBrokers;
  assert.throws(() => services.redisUrl, /no REDIS_URL/);

  const setup = admin(brokers);
  await setup.connect();
  await setup.createTopics({ topics: [{ topic: 'survives-restart', numPartitions: 1 }], waitForLeaders: true });
  await setup.disconnect();
  assert.ok((await listTopics(brokers)).includes('survives-restart'));

  await services.stop('kafka');
  await assert.rejects(listTopics(brokers));

  await services.start('kafka');
  assert.equal(services.kafkaBrokers, brokers);
  assert.ok((await listTopics(brokers)).includes('survives-restart'));

  await services.clean();
  await services.clean();
});

test('a SIGKILLed private Redis restarts on the same address', async (t) => {
  const services = await startLocalServices({ only: 'redis' });
  t.after(() => services.clean());
  const url = services.redisUrl;
  assert.equal(await ping(url), 'PONG');

  await services.kill('redis');
  await assert.rejects(ping(url));

  await services.start('redis');
  assert.equal(services.redisUrl, url);
  assert.equal(await ping(url), 'PONG');
});
