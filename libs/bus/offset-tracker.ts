// Tracks, per partition, which fetched offsets are still being handled, and yields the next
// offset that is safe to commit: one past the highest offset below which all are done.

export class OffsetTracker {
  private readonly pending = new Map<string, Set<bigint>>();
  private readonly highestSeen = new Map<string, bigint>();
  private readonly committed = new Map<string, bigint>();

  begin(partitionKey: string, offset: string): void {
    const o = BigInt(offset);
    let set = this.pending.get(partitionKey);
    if (!set) {
      set = new Set();
      this.pending.set(partitionKey, set);
    }
    set.add(o);
    const seen = this.highestSeen.get(partitionKey);
    if (seen === undefined || o > seen) this.highestSeen.set(partitionKey, o);
  }

  complete(partitionKey: string, offset: string): void {
    this.pending.get(partitionKey)?.delete(BigInt(offset));
  }

  /** Offsets to commit (the next offset to read), only for partitions whose safe point moved. */
  commitable(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [key, seen] of this.highestSeen) {
      const set = this.pending.get(key);
      let safe = seen + 1n;
      if (set && set.size > 0) {
        for (const o of set) if (o < safe) safe = o;
      }
      if (this.committed.get(key) !== safe) out.set(key, safe.toString());
    }
    return out;
  }

  markCommitted(partitionKey: string, next: string): void {
    this.committed.set(partitionKey, BigInt(next));
  }

  /** Forget a partition this consumer no longer owns. */
  drop(partitionKey: string): void {
    this.pending.delete(partitionKey);
    this.highestSeen.delete(partitionKey);
    this.committed.delete(partitionKey);
  }

  size(): number {
    let n = 0;
    for (const set of this.pending.values()) n += set.size;
    return n;
  }
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export function splitPartitionKey(key: string): { topic: string; partition: number } {
  const at = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
}
