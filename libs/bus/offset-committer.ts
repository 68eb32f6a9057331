// Commits what the OffsetTracker says is safe, at most every interval while work completes, and
// once more at shutdown. A failed commit is retried by the next one; the tracker keeps the truth.
import type { Logger } from '#libs/telemetry/logger.ts';
import { splitPartitionKey, type OffsetTracker } from './offset-tracker.ts';

const intervalMs = 100;

export type CommitOffsets = (offsets: { topic: string; partition: number; offset: string }[]) => Promise<void>;

export class OffsetCommitter {
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly tracker: OffsetTracker;
  private readonly send: CommitOffsets;
  private readonly log: Logger;

  constructor(tracker: OffsetTracker, send: CommitOffsets, log: Logger) {
    this.tracker = tracker;
    this.send = send;
    this.log = log;
  }

  /** Called when work completes: commits soon, together with whatever else completes meanwhile. */
  schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.chain = this.chain.then(() => this.commit());
    }, intervalMs);
  }

  /** Stops scheduling and commits what is safe now, after any commit under way. */
  final(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.chain.then(() => this.commit());
  }

  private async commit(): Promise<void> {
    const due = this.tracker.commitable();
    if (due.size === 0) return;
    try {
      await this.send([...due].map(([key, offset]) => ({ ...splitPartitionKey(key), offset })));
      for (const [key, offset] of due) this.tracker.markCommitted(key, offset);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'offset commit failed; will retry');
    }
  }
}
