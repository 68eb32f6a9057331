import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Batch } from '#libs/contracts/batch.ts';
import { closedBreaker } from '#libs/routing/breaker.ts';
import type { HealthUpdate } from '#libs/store/store.ts';
import type { Sample } from './rates.ts';
import { buildView } from './view.ts';

const now = 1_000_000;
const noLatency = { p50: null, p95: null, p99: null, observations: 0 };

function sample(over: Partial<Sample> = {}): Sample {
  return { at: now, instances: [], requests: [], attempts: [], fallbacks: [], latency: noLatency, latencyByTarget: {}, ...over };
}

function batch(id: string, status: Batch['status']): Batch {
  return {
    id, object: 'batch', endpoint: '/v1/chat/completions', errors: null, input_file_id: 'file-1', completion_window: '24h', status,
    output_file_id: null, error_file_id: null, created_at: 900, in_progress_at: 900, expires_at: null, finalizing_at: null, completed_at: null,
    failed_at: null, expired_at: null, cancelling_at: null, cancelled_at: null, request_counts: { total: 10, completed: 4, failed: 1 }, metadata: null,
  };
}

const inputs = { health: [] as HealthUpdate[], lag: [], batches: [], prefix: 'sw', now };

describe('buildView', () => {
  it('makes a chart point of finished, failed and fallback rates; key rotations are not fallbacks', () => {
    const { point, tables } = buildView({
      ...inputs,
      sample: sample({
        requests: [
          { labels: ['backup', 'm', 'success'], total: 50, perSecond: 4 },
          { labels: ['backup', 'm', 'exhausted'], total: 5, perSecond: 1 },
        ],
        attempts: [
          { labels: ['broken', 'm', 'overloaded'], total: 30, perSecond: 3 },
          { labels: ['broken', 'm', 'rate_limited'], total: 10, perSecond: 0.5 },
          { labels: ['backup', 'm', 'none'], total: 55, perSecond: 5 },
        ],
        fallbacks: [
          { labels: ['broken/m', 'backup/m', 'overloaded'], total: 30, perSecond: 3 },
          { labels: ['backup/m', 'backup/m', 'key_rotation'], total: 2, perSecond: 1 },
        ],
      }),
    });
    assert.deepEqual([point.requests, point.failed, point.fallbacks], [5, 1, 3]);
    assert.deepEqual(point.targetFailures, { 'broken/m': 3.5 });
    assert.deepEqual(point.classes, { overloaded: 3, rate_limited: 0.5 });
    assert.deepEqual(point.routes, { 'broken/m → backup/m': 3 });
    assert.equal(tables.fallbacks.length, 2, 'the table shows key rotations, with their reason');
    assert.deepEqual(tables.failures.map((f) => f.failure), ['overloaded', 'rate_limited']);
    const broken = tables.targets.find((t) => t.target === 'broken/m');
    assert.deepEqual([broken?.attempts, broken?.failed, broken?.failedPerSecond, broken?.fallbacks], [40, 40, 3.5, 30]);
    assert.deepEqual(tables.outcomes.map((o) => o.outcome), ['success', 'exhausted']);
  });

  it('lists breakers open first, then half-open, then closed, and only cooldowns still running', () => {
    const breaker = (state: 'open' | 'half_open' | 'closed', failures: number) => ({ ...closedBreaker, state, since: 5, consecutiveFailures: failures, buckets: [{ start: 0, successes: 2, failures }] });
    const health: HealthUpdate[] = [
      { kind: 'target', id: 'a/m', value: breaker('closed', 0) },
      { kind: 'key', id: 'p:k1', value: breaker('half_open', 1) },
      { kind: 'target', id: 'z/m', value: breaker('open', 3) },
      { kind: 'target', id: 'bad', value: { state: 'nonsense' } },
      { kind: 'cooldown', id: 'p:k2', value: { until: now + 5_000, reason: 'rate_limited' } },
      { kind: 'cooldown', id: 'p:k3', value: { until: now - 1, reason: 'auth' } },
    ];
    const { tables } = buildView({ ...inputs, health, sample: sample() });
    assert.deepEqual(tables.breakers.map((b) => [b.id, b.state]), [['z/m', 'open'], ['p:k1', 'half_open'], ['a/m', 'closed']]);
    assert.deepEqual(tables.breakers[0], { kind: 'target', id: 'z/m', state: 'open', since: 5, consecutiveFailures: 3, windowFailures: 3, windowRequests: 5 });
    assert.deepEqual(tables.cooldowns, [{ key: 'p:k2', until: now + 5_000, reason: 'rate_limited' }]);
    assert.deepEqual(tables.targets.map((t) => [t.target, t.breaker]), [['a/m', 'closed'], ['z/m', 'open']], 'a target known only by its breaker is listed');
  });

  it('names lag without the prefix, charts only groups that committed, says why lag is missing, and shows only running batches', () => {
    const { point, tables } = buildView({
      ...inputs,
      sample: sample(),
      lag: [
        { groupId: 'sw.worker', topic: 'sw.requests.interactive', lag: 7, partitions: 2, committed: true },
        { groupId: 'sw.webhooks', topic: 'sw.results', lag: 40, partitions: 2, committed: false },
      ],
      batches: [batch('b1', 'in_progress'), batch('b2', 'completed'), batch('b3', 'finalizing')],
    });
    assert.deepEqual(point.lag, { 'worker · requests.interactive': 7 }, 'a group that never committed is not charted');
    assert.deepEqual(tables.lag?.map((l) => [l.name, l.committed]), [['worker · requests.interactive', true], ['webhooks · results', false]]);
    assert.equal(tables.lagError, null);
    assert.deepEqual(tables.batches.map((b) => [b.id, b.completed, b.failed, b.total, b.createdAt]), [['b1', 4, 1, 10, 900_000], ['b3', 4, 1, 10, 900_000]]);

    const away = buildView({ ...inputs, sample: sample(), lag: new Error('broker down') });
    assert.equal(away.tables.lag, null);
    assert.equal(away.tables.lagError, 'broker down');
    assert.deepEqual(away.point.lag, {});
  });
});
