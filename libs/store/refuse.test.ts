// Store.refuse against both stores: a refusal is recorded only while no worker has begun the
// request, and a worker that begins it afterwards finds the refusal as its answer.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ResultEnvelope } from '#libs/contracts/envelope.ts';
import { createLogger } from '#libs/telemetry/logger.ts';
import { servicesEnv } from '#test/support/gateway.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { Store } from './store.ts';

const options = { prefix: `refuse-${randomUUID().slice(0, 8)}`, resultTtlSeconds: 60, replayTtlSeconds: 60 };

function refusal(id: string): ResultEnvelope {
  return { v: 1, id, status: 'failed', httpStatus: 503, error: { message: 'not accepted', type: 'service_unavailable', param: null, code: 'bus_unavailable' }, attempts: [], acceptedAt: 1, completedAt: 2 };
}

for (const [name, make] of [
  ['memory', () => new MemoryStore(options)],
  ['redis', () => new RedisStore(servicesEnv().redisUrl, options, createLogger({ level: 'silent' }))],
] as const) {
  describe(`Store.refuse (${name})`, () => {
    const store: Store = make();
    after(() => store.close());

    it('records the refusal of a request no worker has begun, and a later begin gets it as the answer', async () => {
      const id = randomUUID();
      assert.equal(await store.refuse(refusal(id)), true);
      const outcome = await store.begin(id, 'worker-a', 10_000);
      assert.equal(outcome.claimed, false);
      assert.equal(outcome.result?.error?.code, 'bus_unavailable');
    });

    it('refuses nothing once a worker holds the claim: the request was accepted after all', async () => {
      const id = randomUUID();
      assert.equal((await store.begin(id, 'worker-a', 10_000)).claimed, true);
      assert.equal(await store.refuse(refusal(id)), false);
      assert.equal(await store.getResult(id), undefined);
    });

    it('refuses nothing once a worker answered it', async () => {
      const id = randomUUID();
      await store.saveResult({ ...refusal(id), status: 'succeeded', httpStatus: 200, error: undefined });
      assert.equal(await store.refuse(refusal(id)), false);
      assert.equal((await store.getResult(id))?.status, 'succeeded');
    });
  });
}
