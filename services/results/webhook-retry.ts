// What a webhook receiver's answer means for the delivery, and how long to wait before the next
// try. Pure: the deliverer passes in the answer, the try number, the clock and the randomness.

export type TryOutcome = 'delivered' | 'retry' | 'rejected';

/** 2xx delivers; a 4xx is the receiver refusing for good, except 408 and 429; anything else (or no answer) is retried. */
export function tryOutcome(status: number | undefined): TryOutcome {
  if (status === undefined) return 'retry';
  if (status >= 200 && status < 300) return 'delivered';
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'rejected';
  return 'retry';
}

export interface Backoff {
  initialBackoffMs: number;
  maxBackoffMs: number;
}

/**
 * The wait after failed try number `tries` (1-based): the initial backoff doubled per try, capped,
 * with up to half of it taken off at random so receivers that failed together are not retried
 * together. A receiver's Retry-After is honoured up to the cap.
 */
export function retryDelayMs(tries: number, backoff: Backoff, random: () => number, retryAfterMs?: number): number {
  const exponential = Math.min(backoff.maxBackoffMs, backoff.initialBackoffMs * 2 ** Math.min(tries - 1, 40));
  const jittered = exponential - Math.floor(exponential * 0.5 * random());
  return Math.min(backoff.maxBackoffMs, Math.max(jittered, retryAfterMs ?? 0));
}
