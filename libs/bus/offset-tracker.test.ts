import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OffsetTracker, partitionKey, splitPartitionKey } from './offset-tracker.ts';

const p0 = partitionKey('spillway.requests.interactive', 0);
const p1 = partitionKey('spillway.requests.interactive', 1);

function beginAll(tracker: OffsetTracker, key: string, offsets: number[]): void {
  for (const o of offsets) tracker.begin(key, String(o));
}

describe('OffsetTracker', () => {
  it('reports nothing before anything is fetched', () => {
    assert.deepEqual(new OffsetTracker().commitable(), new Map());
  });

  it('never reports a point past an offset still in progress', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [5, 6, 7]);
    const next = t.commitable().get(p0);
    assert.ok(next === undefined || BigInt(next) <= 5n, String(next));
  });

  it('commits one past the last offset once all are done in order', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [0, 1, 2]);
    for (const o of [0, 1, 2]) t.complete(p0, String(o));
    assert.deepEqual(t.commitable(), new Map([[p0, '3']]));
  });

  it('out-of-order completion commits only the contiguous prefix', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [10, 11, 12, 13, 14]);
    t.complete(p0, '12');
    t.complete(p0, '14');
    assert.equal(t.commitable().get(p0), '10', 'nothing below 10 is done');
    t.complete(p0, '10');
    assert.equal(t.commitable().get(p0), '11', '11 is still in progress');
    t.complete(p0, '11');
    assert.equal(t.commitable().get(p0), '13', '10-12 done, 13 in progress');
    t.complete(p0, '13');
    assert.equal(t.commitable().get(p0), '15');
  });

  it('the last offset finishing first does not move the point', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [0, 1, 2, 3]);
    t.complete(p0, '3');
    t.complete(p0, '2');
    t.complete(p0, '1');
    assert.equal(t.commitable().get(p0), '0');
    t.complete(p0, '0');
    assert.equal(t.commitable().get(p0), '4');
  });

  it('gaps in the offsets (compacted or transactional topics) do not hold the point back', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [3, 7, 20]);
    t.complete(p0, '3');
    t.complete(p0, '7');
    assert.equal(t.commitable().get(p0), '20');
    t.complete(p0, '20');
    assert.equal(t.commitable().get(p0), '21');
  });

  it('handles offsets beyond Number.MAX_SAFE_INTEGER exactly', () => {
    const t = new OffsetTracker();
    const big = '9007199254740993';
    t.begin(p0, big);
    t.complete(p0, big);
    assert.equal(t.commitable().get(p0), '9007199254740994');
  });

  it('partitions are independent', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [0, 1]);
    beginAll(t, p1, [100, 101]);
    t.complete(p1, '100');
    t.complete(p1, '101');
    t.complete(p0, '1');
    const out = t.commitable();
    assert.equal(out.get(p1), '102');
    assert.equal(out.get(p0), '0');
  });

  it('the same partition number on another topic is another partition', () => {
    const t = new OffsetTracker();
    const other = partitionKey('spillway.requests.batch', 0);
    t.begin(p0, '0');
    t.begin(other, '0');
    t.complete(other, '0');
    const out = t.commitable();
    assert.equal(out.get(other), '1');
    assert.equal(out.get(p0), '0');
  });

  it('after markCommitted only partitions whose point moved are reported', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [0, 1]);
    beginAll(t, p1, [0, 1]);
    t.complete(p0, '0');
    t.complete(p1, '0');
    const first = t.commitable();
    assert.equal(first.get(p0), '1');
    assert.equal(first.get(p1), '1');
    for (const [key, next] of first) t.markCommitted(key, next);
    assert.deepEqual(t.commitable(), new Map(), 'nothing moved since the commit');
    t.complete(p1, '1');
    assert.deepEqual(t.commitable(), new Map([[p1, '2']]));
    t.markCommitted(p1, '2');
    assert.deepEqual(t.commitable(), new Map());
    t.complete(p0, '1');
    assert.deepEqual(t.commitable(), new Map([[p0, '2']]));
  });

  it('a completion that does not move the point reports nothing new', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [0, 1, 2]);
    t.complete(p0, '0');
    t.markCommitted(p0, '1');
    t.complete(p0, '2');
    assert.deepEqual(t.commitable(), new Map(), '1 still holds the point at 1');
  });

  it('drop forgets a partition entirely', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [0, 1, 2]);
    beginAll(t, p1, [0]);
    t.complete(p0, '0');
    t.markCommitted(p0, '1');
    t.drop(p0);
    assert.equal(t.size(), 1);
    assert.equal(t.commitable().has(p0), false);
    t.complete(p0, '1');
    assert.equal(t.commitable().has(p0), false, 'a late completion of a dropped partition is ignored');
    t.begin(p0, '50');
    t.complete(p0, '50');
    assert.equal(t.commitable().get(p0), '51', 'the partition starts afresh when reassigned');
  });

  it('drop forgets what was committed, so a reassigned partition reports its point even if equal to an old commit', () => {
    const t = new OffsetTracker();
    beginAll(t, p0, [0, 1]);
    t.complete(p0, '0');
    t.complete(p0, '1');
    t.markCommitted(p0, '2');
    t.drop(p0);
    // Reassigned after another consumer was reset to 1: this consumer has committed nothing since.
    t.begin(p0, '1');
    t.complete(p0, '1');
    assert.deepEqual(t.commitable(), new Map([[p0, '2']]));
  });

  it('size counts offsets still in progress across partitions', () => {
    const t = new OffsetTracker();
    assert.equal(t.size(), 0);
    beginAll(t, p0, [0, 1, 2]);
    beginAll(t, p1, [7]);
    assert.equal(t.size(), 4);
    t.complete(p0, '1');
    assert.equal(t.size(), 3);
    t.complete(p0, '1');
    assert.equal(t.size(), 3, 'completing twice counts once');
    t.complete(p1, '99');
    assert.equal(t.size(), 3, 'completing an unknown offset changes nothing');
  });
});

describe('partitionKey', () => {
  it('splits back into topic and partition', () => {
    assert.deepEqual(splitPartitionKey(partitionKey('spillway.results', 11)), { topic: 'spillway.results', partition: 11 });
  });

  it('survives topic names that contain digits and separators', () => {
    assert.deepEqual(splitPartitionKey(partitionKey('team-1.spillway.requests.batch-2', 0)), { topic: 'team-1.spillway.requests.batch-2', partition: 0 });
  });

  it('different topic/partition pairs never collide', () => {
    assert.notEqual(partitionKey('a1', 2), partitionKey('a', 12));
  });
});
