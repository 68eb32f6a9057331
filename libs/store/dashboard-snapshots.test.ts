// Store.saveDashboardSnapshot / dashboardSnapshots against both stores: the latest snapshot of
// each process that still publishes, and none of one that stopped once its time to live is up.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createLogger } from '#libs/telemetry/logger.ts';
import { servicesEnv } from '#test/support/gateway.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { Store } from './store.ts';

for (const [name, make] of [
  ['memory', (prefix: string) => new MemoryStore({ prefix, resultTtlSeconds: 60, replayTtlSeconds: 60 })],
  ['redis', (prefix: string) => new RedisStore(servicesEnv().redisUrl, { prefix, resultTtlSeconds: 60, replayTtlSeconds: 60 }, createLogger({ level: 'silent' }))],
] as const) {
  describe(`Store dashboard snapshots (${name})`, () => {
    const stores: Store[] = [];
    const fresh = (): Store => {
      const store = make(`dash-${randomUUID().slice(0, 8)}`);
      stores.push(store);
      return store;
    };
    after(() => Promise.all(stores.map((s) => s.close())));

    it('keeps the latest snapshot of each publishing process', async () => {
      const store = fresh();
      assert.deepEqual(await store.dashboardSnapshots(), []);
      await store.saveDashboardSnapshot('worker-1', '{"n":1}', 60);
      await store.saveDashboardSnapshot('ingest-1', '{"n":2}', 60);
      await store.saveDashboardSnapshot('worker-1', '{"n":3}', 60);
      assert.deepEqual((await store.dashboardSnapshots()).sort(), ['{"n":2}', '{"n":3}']);
    });

    it('drops a process that stopped publishing once its time to live is up', async () => {
      const store = fresh();
      await store.saveDashboardSnapshot('gone', '{"gone":true}', 1);
      await store.saveDashboardSnapshot('alive', '{"alive":true}', 60);
      assert.equal((await store.dashboardSnapshots()).length, 2);
      // The expiry is the event; it is a second away whatever the test does.
      const deadline = Date.now() + 5_000;
      let left = await store.dashboardSnapshots();
      while (left.length > 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = await store.dashboardSnapshots();
      }
      assert.deepEqual(left, ['{"alive":true}']);
    });

    it('does not mix deployments: another prefix sees none of them', async () => {
      const a = fresh();
      const b = fresh();
      await a.saveDashboardSnapshot('worker-1', '{"a":1}', 60);
      assert.deepEqual(await b.dashboardSnapshots(), []);
    });
  });
}
