import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PriorityGate } from './priority-gate.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('PriorityGate', () => {
  it('runs batch work at once while interactive work is below the threshold', async () => {
    const gate = new PriorityGate({ threshold: 2, maxLagMs: 0 });
    const hold = deferred();
    const interactive = gate.runInteractive(() => hold.promise);
    assert.equal(await gate.runBatch(async () => 'ran'), 'ran');
    hold.resolve();
    await interactive;
  });

  it('holds batch work while interactive work is at the threshold, and releases it when it drops', async () => {
    const gate = new PriorityGate({ threshold: 2, maxLagMs: 0 });
    const holds = [deferred(), deferred()];
    const running = holds.map((h) => gate.runInteractive(() => h.promise));
    let started = false;
    const batch = gate.runBatch(async () => {
      started = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(started, false, 'batch waits while two interactive requests run');
    holds[0].resolve();
    await running[0];
    await batch;
    assert.equal(started, true);
    holds[1].resolve();
    await running[1];
  });

  it('passes interactive results and errors through', async () => {
    const gate = new PriorityGate({ threshold: 1, maxLagMs: 0 });
    assert.equal(await gate.runInteractive(async () => 7), 7);
    await assert.rejects(gate.runInteractive(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await gate.runBatch(async () => 'after errors the count is back to zero'), 'after errors the count is back to zero');
  });

  it('holds further batch work while interactive requests arrive and the event loop lags, and releases it when the lag eases', async () => {
    let lagMs = 50;
    const gate = new PriorityGate({ threshold: 10, maxLagMs: 10, lag: () => lagMs });
    const first = deferred();
    try {
      await gate.runInteractive(async () => undefined);
      const running = gate.runBatch(() => first.promise);
      let started = false;
      const batch = gate.runBatch(async () => {
        started = true;
      });
      // Held across a few of the gate's re-checks.
      await new Promise((resolve) => setTimeout(resolve, 250));
      assert.equal(started, false, 'a second batch request waits while the loop lags behind interactive work');
      lagMs = 2;
      await batch;
      assert.equal(started, true);
      first.resolve();
      await running;
    } finally {
      gate.stop();
    }
  });

  it('batch_starved_by_steady_interactive_lag: one batch request always runs, however long the loop lags', async () => {
    const gate = new PriorityGate({ threshold: 10, maxLagMs: 10, lag: () => 500 });
    const arriving = setInterval(() => void gate.runInteractive(async () => undefined), 20);
    try {
      await gate.runInteractive(async () => undefined);
      assert.equal(await gate.runBatch(async () => 'ran'), 'ran');
      assert.equal(await gate.runBatch(async () => 'ran again'), 'ran again');
    } finally {
      clearInterval(arriving);
      gate.stop();
    }
  });

  it('ignores event-loop lag when no interactive request came lately', async () => {
    const gate = new PriorityGate({ threshold: 10, maxLagMs: 10, lag: () => 500 });
    try {
      assert.equal(await gate.runBatch(async () => 'ran'), 'ran');
    } finally {
      gate.stop();
    }
  });
});
