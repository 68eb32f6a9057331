import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requestIdPattern } from '#libs/contracts/request-id.ts';
import { batchLineRequestId, feedPlan, type FeedCandidate } from './feeder.ts';

const batch = (id: string, tenant: string, remaining: number, inFlight = 0): FeedCandidate => ({ id, tenant, remaining, inFlight });
const planOf = (candidates: FeedCandidate[], perTenant: number): Record<string, number> => Object.fromEntries(feedPlan(candidates, perTenant));

describe('feedPlan', () => {
  it("gives a tenant's small batch its lines at once, however large another tenant's batch is", () => {
    assert.deepEqual(planOf([batch('big', 'a', 50_000), batch('small', 'b', 10)], 100), { big: 100, small: 10 });
  });

  it('fills only the room a tenant has left under its limit', () => {
    assert.deepEqual(planOf([batch('big', 'a', 50_000, 97)], 100), { big: 3 });
    assert.deepEqual(planOf([batch('big', 'a', 50_000, 100)], 100), {});
  });

  it("does not let one tenant's lines in flight (parked on a rate limit, say) hold back another's", () => {
    assert.deepEqual(planOf([batch('stuck', 'a', 40_000, 100), batch('other', 'b', 500)], 100), { other: 100 });
  });

  it("deals a tenant's room round-robin to its batches, oldest first, and gives a batch's unneeded share to the others", () => {
    assert.deepEqual(planOf([batch('first', 'a', 1_000), batch('second', 'a', 1_000), batch('third', 'a', 1_000)], 10), { first: 4, second: 3, third: 3 });
    assert.deepEqual(planOf([batch('tiny', 'a', 2), batch('large', 'a', 1_000)], 10), { tiny: 2, large: 8 });
  });

  it('counts the lines in flight of all its batches against the tenant', () => {
    assert.deepEqual(planOf([batch('one', 'a', 100, 6), batch('two', 'a', 100, 3)], 10), { one: 1 });
  });

  it('skips batches with nothing left to feed', () => {
    assert.deepEqual(planOf([batch('done', 'a', 0, 2), batch('next', 'a', 5)], 10), { next: 5 });
  });
});

describe('batchLineRequestId', () => {
  it('names the same request every time for the same line, a different one for another line or batch', () => {
    const batchId = 'batch_01jx0000000000000000000000';
    const id = batchLineRequestId(batchId, 7);
    assert.match(id, requestIdPattern);
    assert.equal(batchLineRequestId(batchId, 7), id);
    assert.notEqual(batchLineRequestId(batchId, 8), id);
    assert.notEqual(batchLineRequestId('batch_01jx0000000000000000000001', 7), id);
  });

  it("starts with the batch's creation time, so line requests sort with the requests of their time", () => {
    assert.equal(batchLineRequestId('batch_01jx5abcde0000000000000000', 1).slice(4, 14), '01jx5abcde');
  });
});
