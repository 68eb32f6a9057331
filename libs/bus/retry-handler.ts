// A handler that throws is retried with backoff until it succeeds or the consumer stops:
// the message stays uncommitted meanwhile, so a stop redelivers it rather than dropping it.
// Each try runs in the trace context the message's headers carry.
import { inTraceContextOf } from '#libs/telemetry/tracing.ts';

const maxDelayMs = 5_000;

export async function handleWithRetry<T extends { headers: Record<string, string> }>(
  handle: (message: T) => Promise<void>,
  message: T,
  isStopping: () => boolean,
  onError: (err: unknown) => void,
): Promise<void> {
  let delay = 100;
  for (;;) {
    try {
      await inTraceContextOf(message.headers, () => handle(message));
      return;
    } catch (err) {
      if (isStopping()) throw err;
      onError(err);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, maxDelayMs);
    }
  }
}
