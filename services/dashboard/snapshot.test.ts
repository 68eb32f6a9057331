import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '#libs/telemetry/metrics.ts';
import { snapshotSchema, takeSnapshot } from './snapshot.ts';

describe('takeSnapshot', () => {
  it('reads the dashboard counters and the latency histogram off the registry, in the shape the store keeps', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.requests.inc({ provider: 'backup', model: 'm', outcome: 'success' }, 3);
    metrics.attempts.inc({ provider: 'broken', model: 'm', failure: 'overloaded' }, 2);
    metrics.fallbacks.inc({ from: 'broken/m', to: 'backup/m', reason: 'overloaded' });
    metrics.upstreamLatency.observe({ provider: 'backup', model: 'm' }, 0.2);
    metrics.upstreamLatency.observe({ provider: 'backup', model: 'm' }, 100);
    const snapshot = await takeSnapshot(metrics, { instance: 'i-1', roles: ['worker'], startedAt: 5 }, 1234);

    assert.deepEqual(snapshotSchema.parse(JSON.parse(JSON.stringify(snapshot))), snapshot, 'it survives the trip through the store');
    assert.equal(snapshot.at, 1234);
    assert.deepEqual(snapshot.requests, [['backup', 'm', 'success', 3]]);
    assert.deepEqual(snapshot.attempts, [['broken', 'm', 'overloaded', 2]]);
    assert.deepEqual(snapshot.fallbacks, [['broken/m', 'backup/m', 'overloaded', 1]]);
    const { bounds, targets } = snapshot.latency;
    assert.deepEqual(bounds, [...bounds].sort((a, b) => a - b));
    assert.equal(targets.length, 1);
    const [backup] = targets;
    assert.equal(backup.buckets.length, bounds.length + 1);
    assert.equal(backup.buckets[bounds.indexOf(0.25)], 1, 'the 0.2 s call is at or below 0.25 s');
    assert.equal(backup.buckets[bounds.length - 1], 1, 'the 100 s call is past the last finite bound');
    assert.equal(backup.buckets[bounds.length], 2, '+Inf counts both');
  });
});
