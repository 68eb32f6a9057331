// Batch work yields to interactive work on the same worker: a batch request starts only while
// interactive requests in flight stay below a threshold, and waits for room otherwise.

export class PriorityGate {
  private interactive = 0;
  private waiters: (() => void)[] = [];
  private readonly threshold: number;

  constructor(threshold: number) {
    this.threshold = threshold;
  }

  async runInteractive<T>(work: () => Promise<T>): Promise<T> {
    this.interactive++;
    try {
      return await work();
    } finally {
      this.interactive--;
      if (this.interactive < this.threshold) this.wake();
    }
  }

  async runBatch<T>(work: () => Promise<T>): Promise<T> {
    while (this.interactive >= this.threshold) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return work();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
