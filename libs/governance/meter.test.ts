// One contract for both meters (in memory, and on the real Redis), then what only Redis has to
// prove: replicas sharing it enforce one limit, its script names periods as periods.ts does, and
// it prunes and times entries by the server's clock.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Admission, Meter, MeteredSubject } from './meter.ts';
import { MemoryMeter } from './memory-meter.ts';
import { meterKeys, RedisMeter } from './redis-meter.ts';
import { periodEnd, periodKey, periods } from './periods.ts';

const redisEnv = process.env.REDIS_URL;
if (!redisEnv) throw new Error('REDIS_URL is not set: run the tests with `npm test`, which starts Redis (deploy/local/services.sh).');
const redisUrl: string = redisEnv;

const uniquePrefix = (): string => `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
const subject = (name: string, limits: Partial<MeteredSubject> = {}): MeteredSubject => ({ subject: name, budgets: [], ...limits });
const admit = (meter: Meter, subjects: MeteredSubject[], estimatedTokens = 1, requestId: string = randomUUID()): Promise<Admission> =>
  meter.admit({ requestId, estimatedTokens, subjects });

function refusal(a: Admission): Extract<Admission, { admitted: false }> {
  assert.equal(a.admitted, false, 'expected a refusal');
  if (a.admitted) throw new Error('unreachable');
  return a;
}

function assertWindowRetry(ms: number | undefined): void {
  assert.ok(ms !== undefined && ms > 0 && ms <= 60_000, `retryAfterMs ${ms} is not within (0, 60000]`);
}

for (const [name, make] of [
  ['memory', () => new MemoryMeter()],
  ['redis', () => new RedisMeter(redisUrl, uniquePrefix())],
] as const) {
  describe(`Meter contract (${name})`, () => {
    const opened: Meter[] = [];
    const open = (): Meter => {
      const meter = make();
      opened.push(meter);
      return meter;
    };
    after(() => Promise.all(opened.map((m) => m.close())));

    it('admits exactly rpm requests in a window, then refuses with a wait within the window', async () => {
      const meter = open();
      const key = subject('key:a', { rpm: 3 });
      const remaining: number[] = [];
      for (let i = 0; i < 3; i++) {
        const a = await admit(meter, [key]);
        assert.equal(a.admitted, true);
        assert.equal(a.requests?.limit, 3);
        remaining.push(a.requests?.remaining ?? -1);
        assertWindowRetry(a.requests?.resetMs);
      }
      assert.deepEqual(remaining, [2, 1, 0]);
      const refused = refusal(await admit(meter, [key]));
      assert.equal(refused.reason, 'requests');
      assert.equal(refused.subject, 'key:a');
      assert.equal(refused.requests?.remaining, 0);
      assertWindowRetry(refused.retryAfterMs);
    });

    it('admits tokens while estimates fit the tpm, and record() replacing an estimate frees room', async () => {
      const meter = open();
      const key = subject('key:a', { tpm: 1000 });
      const first = await admit(meter, [key], 600, 'req-1');
      assert.equal(first.admitted, true);
      assert.deepEqual(first.tokens && { limit: first.tokens.limit, remaining: first.tokens.remaining }, { limit: 1000, remaining: 400 });
      const refused = refusal(await admit(meter, [key], 500));
      assert.equal(refused.reason, 'tokens');
      assert.equal(refused.tooLarge, undefined);
      assert.equal(refused.tokens?.remaining, 0, 'the refusing window reports no room, though 400 tokens are left');
      assertWindowRetry(refused.retryAfterMs);
      assert.equal(await meter.record('req-1', Date.now(), [{ subject: 'key:a', microUsd: 10, tokens: 100 }]), true);
      const after = await admit(meter, [key], 500);
      assert.equal(after.admitted, true);
      assert.equal(after.tokens?.remaining, 400);
    });

    it('refuses a request larger than the whole tpm as too large, with no wait that helps', async () => {
      const meter = open();
      const key = subject('key:a', { tpm: 100 });
      const refused = refusal(await admit(meter, [key], 101));
      assert.equal(refused.reason, 'tokens');
      assert.equal(refused.tooLarge, true);
      assert.equal(refused.retryAfterMs, undefined);
      assert.equal((await admit(meter, [key], 100)).admitted, true, 'a request of exactly the tpm fits an empty window');
    });

    it('release() takes an admitted request out of every window, so it no longer counts', async () => {
      const meter = open();
      const key = subject('key:a', { rpm: 1, tpm: 100 });
      const id = randomUUID();
      assert.equal((await admit(meter, [key], 60, id)).admitted, true);
      assert.equal(refusal(await admit(meter, [key], 60)).reason, 'requests');
      await meter.release(id, ['key:a']);
      const again = await admit(meter, [key], 60);
      assert.equal(again.admitted, true, 'the released request left the requests window');
      assert.equal(again.tokens?.remaining, 40, 'and its tokens left the tokens window');
      await meter.release(randomUUID(), ['key:a', 'team:none']);
      assert.equal(refusal(await admit(meter, [key], 1)).reason, 'requests', 'releasing an unknown request changes nothing');
    });

    it('says a request is too large before any wait: not "wait" for rpm, then "never" once the minute is over', async () => {
      const meter = open();
      const key = subject('key:a', { rpm: 1 });
      const team = subject('team:t', { tpm: 100 });
      assert.equal((await admit(meter, [key, team], 10)).admitted, true, 'the one request of the minute');
      const refused = refusal(await admit(meter, [key, team], 101));
      assert.equal(refused.tooLarge, true);
      assert.equal(refused.subject, 'team:t');
    });

    it('refuses once a period budget is spent, until the period ends', async () => {
      const meter = open();
      const key = subject('key:a', { budgets: [{ period: 'day', microUsd: 1000 }] });
      assert.equal((await admit(meter, [key])).admitted, true);
      await meter.record(randomUUID(), Date.now(), [{ subject: 'key:a', microUsd: 999, tokens: 1 }]);
      assert.equal((await admit(meter, [key])).admitted, true, '999 of 1000 spent leaves room');
      assert.equal(await meter.overBudget([key]), undefined);
      await meter.record(randomUUID(), Date.now(), [{ subject: 'key:a', microUsd: 1, tokens: 1 }]);
      const now = Date.now();
      const refused = refusal(await admit(meter, [key]));
      assert.equal(refused.reason, 'budget');
      assert.equal(refused.period, 'day');
      assert.equal(refused.subject, 'key:a');
      const untilMidnight = (periodEnd('day', now) ?? 0) - now;
      assert.ok(refused.retryAfterMs !== undefined && Math.abs(refused.retryAfterMs - untilMidnight) < 5_000, `retryAfterMs ${refused.retryAfterMs} is not the time to midnight`);
      assert.deepEqual(await meter.overBudget([subject('key:b'), key]), { subject: 'key:a', period: 'day' });
      assert.deepEqual([...(await meter.spend('key:a', [...periods], now))], [['day', 1000], ['week', 1000], ['month', 1000], ['total', 1000]]);
    });

    it('counts spend in the periods containing its time: an old month counts toward total only', async () => {
      const meter = open();
      const fortyDaysAgo = Date.now() - 40 * 86_400_000;
      await meter.record(randomUUID(), fortyDaysAgo, [{ subject: 'team:t', microUsd: 500, tokens: 1 }]);
      const month = subject('team:t', { budgets: [{ period: 'month', microUsd: 500 }] });
      assert.equal((await admit(meter, [month])).admitted, true);
      const spend = await meter.spend('team:t', ['week', 'month', 'total'], Date.now());
      assert.deepEqual([...spend], [['week', 0], ['month', 0], ['total', 500]]);
      const total = refusal(await admit(meter, [subject('team:t', { budgets: [{ period: 'total', microUsd: 500 }] })]));
      assert.equal(total.reason, 'budget');
      assert.equal(total.period, 'total');
      assert.equal(total.retryAfterMs, undefined, 'a total budget never ends');
    });

    it('counts a usage once: a redelivered record() is refused and changes nothing', async () => {
      const meter = open();
      const key = subject('key:a', { tpm: 1000 });
      assert.equal((await admit(meter, [key], 800, 'req-1')).admitted, true);
      assert.equal(await meter.record('req-1', Date.now(), [{ subject: 'key:a', microUsd: 250, tokens: 300 }]), true);
      assert.equal(await meter.record('req-1', Date.now(), [{ subject: 'key:a', microUsd: 250, tokens: 900 }]), false);
      assert.deepEqual([...(await meter.spend('key:a', ['day', 'total'], Date.now()))], [['day', 250], ['total', 250]]);
      const next = await admit(meter, [key], 1);
      assert.equal(next.tokens?.remaining, 699, 'the window holds the first record’s 300 tokens, not the second’s 900');
    });

    it('admits all or nothing: a refusal at the team level records nothing at the key level', async () => {
      const meter = open();
      const key = subject('key:a', { rpm: 10, tpm: 10_000 });
      const team = subject('team:t', { rpm: 1, tpm: 10_000 });
      assert.equal((await admit(meter, [key, team], 100)).admitted, true);
      const refused = refusal(await admit(meter, [key, team], 100));
      assert.equal(refused.reason, 'requests');
      assert.equal(refused.subject, 'team:t');
      const keyAlone = await admit(meter, [key], 100);
      assert.equal(keyAlone.requests?.remaining, 8, 'only the admitted request and this one count');
      assert.equal(keyAlone.tokens?.remaining, 9_800);
      const broke = subject('customer:c', { budgets: [{ period: 'total', microUsd: 0 }] });
      assert.equal(refusal(await admit(meter, [key, broke], 100)).reason, 'budget');
      assert.equal((await admit(meter, [key], 100)).requests?.remaining, 7);
    });

    it('reports the window of the subject with the least room left, counting this request', async () => {
      const meter = open();
      const key = subject('key:a', { rpm: 5 });
      for (let i = 0; i < 3; i++) await admit(meter, [key]);
      const team = subject('team:t', { rpm: 100, tpm: 50 });
      const a = await admit(meter, [team, key, subject('customer:c')], 20);
      assert.equal(a.admitted, true);
      assert.equal(a.requests?.limit, 5, 'the key has 1 left, the team 99');
      assert.equal(a.requests?.remaining, 1);
      assert.deepEqual(a.tokens && { limit: a.tokens.limit, remaining: a.tokens.remaining }, { limit: 50, remaining: 30 }, 'only the team has a tpm');
      const none = await admit(meter, [subject('customer:c')]);
      assert.deepEqual(none, { admitted: true }, 'no limits, no windows');
    });
  });
}

describe('MemoryMeter windows over time (injected clock)', () => {
  const start = Date.UTC(2026, 10, 26, 12);
  let now = start;
  const meter = new MemoryMeter(() => now);

  it('frees a request the moment it is 60 s old, and says exactly when', async () => {
    const key = subject('key:a', { rpm: 2 });
    now = start;
    await admit(meter, [key]);
    now = start + 10_000;
    await admit(meter, [key]);
    now = start + 20_000;
    const refused = refusal(await admit(meter, [key]));
    assert.equal(refused.retryAfterMs, 40_000);
    assert.equal(refused.requests?.resetMs, 40_000);
    now = start + 59_999;
    assert.equal((await admit(meter, [key])).admitted, false);
    now = start + 60_000;
    const a = await admit(meter, [key]);
    assert.equal(a.admitted, true);
    assert.equal(a.requests?.resetMs, 10_000, 'the oldest left is the one from 10 s');
  });

  it('waits for as many of the oldest token entries as the estimate needs', async () => {
    const key = subject('key:b', { tpm: 1000 });
    for (const at of [0, 10_000, 20_000]) {
      now = start + at;
      await admit(meter, [key], 300);
    }
    now = start + 30_000;
    const refused = refusal(await admit(meter, [key], 500));
    assert.equal(refused.retryAfterMs, 40_000, 'two entries must leave; the second leaves at 70 s');
    now = start + 70_000;
    const a = await admit(meter, [key], 500);
    assert.equal(a.admitted, true);
    assert.equal(a.tokens?.remaining, 200);
  });

  it('ends a budget refusal at the next period', async () => {
    now = Date.UTC(2026, 10, 29, 23, 0);
    const key = subject('key:c', { budgets: [{ period: 'week', microUsd: 10 }] });
    await meter.record(randomUUID(), now, [{ subject: 'key:c', microUsd: 10, tokens: 1 }]);
    assert.equal(refusal(await admit(meter, [key])).retryAfterMs, 3_600_000, 'the ISO week ends at Monday 00:00');
    now = Date.UTC(2026, 10, 30);
    assert.equal((await admit(meter, [key])).admitted, true);
  });
});

describe('RedisMeter on a shared Redis', () => {
  const raw = new Redis(redisUrl);
  const opened: Meter[] = [];
  const open = (prefix: string): RedisMeter => {
    const meter = new RedisMeter(redisUrl, prefix);
    opened.push(meter);
    return meter;
  };
  after(async () => {
    await Promise.all(opened.map((m) => m.close()));
    await raw.quit();
  });

  const serverNow = async (): Promise<number> => {
    const [seconds, micros] = await raw.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };

  it('admits exactly rpm of 200 concurrent requests sent through three replicas', async () => {
    const prefix = uniquePrefix();
    const replicas = [open(prefix), open(prefix), open(prefix)];
    const key = subject('key:a', { rpm: 50 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => admit(replicas[i % 3] ?? replicas[0], [key])));
    assert.equal(results.filter((r) => r.admitted).length, 50);
    assert.equal(await raw.zcard(meterKeys(prefix).requests('key:a')), 50);
  });

  it('admits exactly tpm worth of 200 concurrent requests sent through three replicas', async () => {
    const prefix = uniquePrefix();
    const replicas = [open(prefix), open(prefix), open(prefix)];
    const key = subject('key:a', { tpm: 1000 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => admit(replicas[i % 3] ?? replicas[0], [key], 20)));
    assert.equal(results.filter((r) => r.admitted).length, 50);
    const keys = meterKeys(prefix);
    assert.equal(await raw.get(keys.tokenSum('key:a')), '1000');
    assert.equal(await raw.hlen(keys.tokenWeights('key:a')), 50);
  });

  it('prunes entries older than 60 s by server time, subtracting their tokens', async () => {
    const prefix = uniquePrefix();
    const meter = open(prefix);
    const keys = meterKeys(prefix);
    const old = (await serverNow()) - 61_000;
    await raw.zadd(keys.requests('key:a'), old, 'old-1', old, 'old-2');
    await raw.zadd(keys.tokens('key:a'), old, 'old-1', old + 60_000, 'recent');
    await raw.hset(keys.tokenWeights('key:a'), 'old-1', 900, 'recent', 100);
    await raw.set(keys.tokenSum('key:a'), 1000);
    const a = await admit(meter, [subject('key:a', { rpm: 2, tpm: 1000 })], 500);
    assert.equal(a.admitted, true);
    assert.equal(a.requests?.remaining, 1);
    assert.equal(a.tokens?.remaining, 400, 'the 100 still in the window and this 500 count; the pruned 900 does not');
    assert.equal(await raw.hexists(keys.tokenWeights('key:a'), 'old-1'), 0);
    const ttl = await raw.pttl(keys.tokens('key:a'));
    assert.ok(ttl > 59_000 && ttl <= 61_000, `window ttl ${ttl}`);
  });

  it('says to retry when the entry whose leaving makes room leaves', async () => {
    const prefix = uniquePrefix();
    const meter = open(prefix);
    const keys = meterKeys(prefix);
    const now = await serverNow();
    for (const [ago, id] of [[50_000, 'a'], [30_000, 'b'], [10_000, 'c']] as const) {
      await raw.zadd(keys.requests('key:a'), now - ago, id);
      await raw.zadd(keys.tokens('key:b'), now - ago, id);
      await raw.hset(keys.tokenWeights('key:b'), id, 300);
    }
    await raw.set(keys.tokenSum('key:b'), 900);
    const requests = refusal(await admit(meter, [subject('key:a', { rpm: 2 })]));
    assert.ok(requests.retryAfterMs !== undefined && requests.retryAfterMs > 28_000 && requests.retryAfterMs <= 30_000, `requests retry ${requests.retryAfterMs}: two of three must leave`);
    assert.ok(requests.requests && requests.requests.resetMs > 8_000 && requests.requests.resetMs <= 10_000, 'the oldest leaves in 10 s');
    const tokens = refusal(await admit(meter, [subject('key:b', { tpm: 1000 })], 500));
    assert.ok(tokens.retryAfterMs !== undefined && tokens.retryAfterMs > 28_000 && tokens.retryAfterMs <= 30_000, `tokens retry ${tokens.retryAfterMs}: 600 of 900 must leave`);
  });

  it('keeps spend until a week after its period ends, and the total for ever', async () => {
    const prefix = uniquePrefix();
    const meter = open(prefix);
    const at = Date.now();
    assert.equal(await meter.record('u1', at, [{ subject: 'key:a', microUsd: 5, tokens: 1 }]), true);
    const keys = meterKeys(prefix);
    for (const p of ['day', 'week', 'month'] as const) {
      const expiresAt = await raw.pexpiretime(keys.spend('key:a') + periodKey(p, at));
      assert.equal(expiresAt, (periodEnd(p, at) ?? 0) + 7 * 86_400_000, p);
    }
    assert.equal(await raw.pttl(keys.spend('key:a') + 'total'), -1);
    const usageTtl = await raw.ttl(keys.usage('u1'));
    assert.ok(usageTtl > 39 * 86_400 && usageTtl <= 40 * 86_400);
  });
});
