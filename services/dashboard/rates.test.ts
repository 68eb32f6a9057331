import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseOf, remember, summarize, type Rated } from './rates.ts';
import type { LabelledTotal, Snapshot } from './snapshot.ts';

function near(actual: number | null | undefined, expected: number): void {
  assert.ok(actual !== null && actual !== undefined && Math.abs(actual - expected) < 1e-9, `${String(actual)} is not ${expected}`);
}

const bounds = [0.1, 0.5, 1];
const windows = { rateMs: 10_000, latencyMs: 30_000 };

function snap(instance: string, at: number, over: Partial<Snapshot> = {}): Snapshot {
  return { instance, roles: ['worker'], startedAt: 1_000, at, requests: [], attempts: [], fallbacks: [], latency: { bounds, targets: [] }, ...over };
}

function find(rows: Rated[], a: string, b: string, c: string): Rated | undefined {
  return rows.find((r) => r.labels[0] === a && r.labels[1] === b && r.labels[2] === c);
}

const ok = (n: number): LabelledTotal => ['openai', 'gpt', 'success', n];

describe('remember', () => {
  it('appends each instance\'s new snapshot, ignores a repeat, and forgets instances no longer publishing', () => {
    let history = remember(new Map(), [snap('a', 10_000), snap('b', 10_000)], 30_000);
    history = remember(history, [snap('a', 12_000), snap('b', 10_000)], 30_000);
    assert.deepEqual(history.get('a')?.map((s) => s.at), [10_000, 12_000]);
    assert.deepEqual(history.get('b')?.map((s) => s.at), [10_000]);
    history = remember(history, [snap('a', 14_000)], 30_000);
    assert.equal(history.has('b'), false);
  });

  it('keeps one snapshot older than the window, so a full window has a base', () => {
    let history = remember(new Map(), [], 5_000);
    for (let at = 0; at <= 20_000; at += 2_000) history = remember(history, [snap('a', at)], 5_000);
    assert.deepEqual(history.get('a')?.map((s) => s.at), [14_000, 16_000, 18_000, 20_000]);
  });

  it('starts afresh when the same instance id reports a different start', () => {
    let history = remember(new Map(), [snap('a', 10_000)], 30_000);
    history = remember(history, [snap('a', 12_000, { startedAt: 11_000 })], 30_000);
    assert.deepEqual(history.get('a')?.map((s) => s.at), [12_000]);
  });
});

describe('baseOf', () => {
  it('is the latest snapshot at least a window old, else the oldest, and nothing for a single snapshot', () => {
    const list = [0, 2_000, 4_000, 6_000, 8_000, 10_000, 12_000].map((at) => snap('a', at));
    assert.equal(baseOf(list, 10_000)?.at, 2_000);
    assert.equal(baseOf(list, 60_000)?.at, 0);
    assert.equal(baseOf([snap('a', 0)], 10_000), undefined);
  });
});

describe('summarize', () => {
  it('sums totals and per-second rates over every live process', () => {
    const history = new Map([
      ['a', [snap('a', 0, { requests: [ok(10)] }), snap('a', 10_000, { requests: [ok(30)] })]],
      ['b', [snap('b', 5_000, { requests: [ok(100)] }), snap('b', 10_000, { requests: [ok(150)] })]],
    ]);
    const sample = summarize(history, windows, 10_000);
    const row = find(sample.requests, 'openai', 'gpt', 'success');
    assert.equal(row?.total, 180);
    // a: 20 over 10 s; b: 50 over 5 s.
    assert.equal(row?.perSecond, 2 + 10);
    assert.deepEqual(sample.instances.map((i) => i.instance), ['a', 'b']);
  });

  it('counts a process seen once in the totals but not yet in the rates', () => {
    const history = new Map([['a', [snap('a', 0, { fallbacks: [['x/m', 'y/m', 'overloaded', 7]] })]]]);
    const sample = summarize(history, windows, 0);
    assert.deepEqual(sample.fallbacks, [{ labels: ['x/m', 'y/m', 'overloaded'], total: 7, perSecond: 0 }]);
  });

  it('rates a series that appeared within the window from zero', () => {
    const history = new Map([['a', [snap('a', 0), snap('a', 4_000, { attempts: [['x', 'm', 'overloaded', 8]] })]]]);
    assert.equal(find(summarize(history, windows, 4_000).attempts, 'x', 'm', 'overloaded')?.perSecond, 2);
  });

  it('takes latency percentiles over the observations within the window, all processes and targets together', () => {
    const before = { bounds, targets: [{ provider: 'x', model: 'm', buckets: [100, 100, 100, 100] }] };
    // Since then: a saw 10 calls in (0.1, 0.5]; b saw 10 calls on another target in (0.5, 1].
    const afterA = { bounds, targets: [{ provider: 'x', model: 'm', buckets: [100, 110, 110, 110] }] };
    const afterB = { bounds, targets: [{ provider: 'y', model: 'm', buckets: [0, 0, 10, 10] }] };
    const history = new Map([
      ['a', [snap('a', 0, { latency: before }), snap('a', 10_000, { latency: afterA })]],
      ['b', [snap('b', 0), snap('b', 10_000, { latency: afterB })]],
    ]);
    const sample = summarize(history, windows, 10_000);
    assert.equal(sample.latency.observations, 20);
    near(sample.latency.p50, 0.5);
    near(sample.latencyByTarget['x/m'].p50, 0.3);
    near(sample.latencyByTarget['y/m'].p50, 0.75);
  });

  it('takes latency from the processes that called upstreams, whatever the others publish (pinned: an ingest node\'s empty histogram hid every worker\'s latency)', () => {
    const none = { bounds: [], targets: [] };
    const history = new Map([
      ['a-ingest', [snap('a-ingest', 0, { latency: none }), snap('a-ingest', 10_000, { latency: none })]],
      // The worker had observed nothing at its first snapshot either.
      ['b-worker', [snap('b-worker', 0, { latency: none }), snap('b-worker', 10_000, { latency: { bounds, targets: [{ provider: 'x', model: 'm', buckets: [4, 4, 4, 4] }] } })]],
    ]);
    const sample = summarize(history, windows, 10_000);
    assert.equal(sample.latency.observations, 4);
    near(sample.latency.p50, 0.05);
  });

  it('leaves out latency of a process whose buckets differ (a mixed-version rollout)', () => {
    const odd = { bounds: [1, 2], targets: [{ provider: 'x', model: 'm', buckets: [5, 5, 5] }] };
    const history = new Map([
      ['a', [snap('a', 0), snap('a', 10_000, { latency: { bounds, targets: [{ provider: 'x', model: 'm', buckets: [1, 1, 1, 1] }] } })]],
      ['b', [snap('b', 0, { latency: { bounds: [1, 2], targets: [] } }), snap('b', 10_000, { latency: odd })]],
    ]);
    assert.equal(summarize(history, windows, 10_000).latency.observations, 1);
  });

  it('is empty, with no percentiles, when nothing publishes', () => {
    const sample = summarize(new Map(), windows, 0);
    assert.deepEqual([sample.requests, sample.attempts, sample.fallbacks, sample.instances], [[], [], [], []]);
    assert.equal(sample.latency.p95, null);
  });
});
