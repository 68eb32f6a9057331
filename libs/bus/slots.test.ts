import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Slots } from './slots.ts';

/** Lets promise callbacks that are already due run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** Tracks whether a promise has settled, and with what. */
function watch<T>(promise: Promise<T>): { done: boolean; value: T | undefined } {
  const state: { done: boolean; value: T | undefined } = { done: false, value: undefined };
  void promise.then((value) => {
    state.done = true;
    state.value = value;
  });
  return state;
}

describe('Slots', () => {
  it('hands out up to the limit', () => {
    const slots = new Slots(2);
    assert.equal(slots.limit, 2);
    assert.equal(slots.tryTake(), true);
    assert.equal(slots.tryTake(), true);
    assert.equal(slots.tryTake(), false);
    assert.equal(slots.inUse, 2);
  });

  it('a release frees a slot for tryTake', () => {
    const slots = new Slots(1);
    assert.equal(slots.tryTake(), true);
    slots.release();
    assert.equal(slots.inUse, 0);
    assert.equal(slots.tryTake(), true);
  });

  it('wait resolves true at once when a slot is free', async () => {
    const slots = new Slots(1);
    assert.equal(await slots.wait(1_000), true);
    assert.equal(slots.inUse, 1);
  });

  it('wait resolves true when a slot is released, and the slot passes to the waiter', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const slots = new Slots(1);
    assert.equal(slots.tryTake(), true);
    const waiting = watch(slots.wait(1_000));
    await settle();
    assert.equal(waiting.done, false);
    slots.release();
    await settle();
    assert.equal(waiting.done, true);
    assert.equal(waiting.value, true);
    assert.equal(slots.inUse, 1, 'the released slot now belongs to the waiter');
    assert.equal(slots.tryTake(), false);
    t.mock.timers.tick(5_000);
    await settle();
    assert.equal(waiting.value, true, 'the cleared timer does not fire later');
    assert.equal(slots.inUse, 1);
  });

  it('waiters are served first come, first served', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const slots = new Slots(1);
    slots.tryTake();
    const first = watch(slots.wait(1_000));
    const second = watch(slots.wait(1_000));
    slots.release();
    await settle();
    assert.equal(first.value, true);
    assert.equal(second.done, false);
    slots.release();
    await settle();
    assert.equal(second.value, true);
    assert.equal(slots.inUse, 1);
  });

  it('wait resolves false when the timeout passes first, and takes no slot', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const slots = new Slots(1);
    slots.tryTake();
    const waiting = watch(slots.wait(500));
    t.mock.timers.tick(499);
    await settle();
    assert.equal(waiting.done, false);
    t.mock.timers.tick(1);
    await settle();
    assert.equal(waiting.done, true);
    assert.equal(waiting.value, false);
    assert.equal(slots.inUse, 1);
  });

  it('a timed-out waiter is not handed the next released slot', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const slots = new Slots(1);
    slots.tryTake();
    const gaveUp = watch(slots.wait(100));
    t.mock.timers.tick(100);
    await settle();
    assert.equal(gaveUp.value, false);
    slots.release();
    assert.equal(slots.inUse, 0, 'the slot is free, not leaked to the waiter that gave up');
    assert.equal(slots.tryTake(), true);
  });

  it('idle resolves at once when nothing is in use', async () => {
    await new Slots(3).idle();
  });

  it('idle resolves only when the last slot is released', async () => {
    const slots = new Slots(3);
    slots.tryTake();
    slots.tryTake();
    const idle = watch(slots.idle());
    const idle2 = watch(slots.idle());
    slots.release();
    await settle();
    assert.equal(idle.done, false);
    slots.release();
    await settle();
    assert.equal(idle.done, true);
    assert.equal(idle2.done, true);
  });

  it('idle waits while a released slot passes straight to a waiter', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const slots = new Slots(1);
    slots.tryTake();
    const waiting = watch(slots.wait(1_000));
    const idle = watch(slots.idle());
    slots.release();
    await settle();
    assert.equal(waiting.value, true);
    assert.equal(idle.done, false, 'the waiter holds the slot now');
    slots.release();
    await settle();
    assert.equal(idle.done, true);
  });
});
