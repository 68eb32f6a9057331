// A counting limit on concurrent handlers; waiting for a slot is how a consumer applies backpressure.

export class Slots {
  private used = 0;
  private waiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  get inUse(): number {
    return this.used;
  }

  tryTake(): boolean {
    if (this.used >= this.limit) return false;
    this.used++;
    return true;
  }

  /** Resolves true once a slot is free, or false if `timeoutMs` passes first. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.tryTake()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) {
      next();
      return;
    }
    this.used--;
    if (this.used === 0) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
    }
  }

  /** Resolves when nothing is in use. */
  idle(): Promise<void> {
    if (this.used === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
