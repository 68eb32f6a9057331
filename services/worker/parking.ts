// Rate-limit-aware scheduling for batch work. A batch request whose every target is rate limited
// or overloaded does not fail and does not hold a worker slot while it waits: it is parked on
// `<prefix>.requests.delayed` with the time its provider said to come back, and a light delay
// consumer puts it back on the batch topic then — as many times as its deadline (the batch's
// completion window) allows. Interactive requests are never parked: their clients are waiting.
import type { BusMessage } from '#libs/bus/bus.ts';
import type { RequestEnvelope, ResultEnvelope } from '#libs/contracts/envelope.ts';
import type { WorkerContext } from './execute.ts';

const notBeforeHeader = 'spillway-not-before';
const parksHeader = 'spillway-parks';

/** Failures that capacity returning will cure. */
const parkable = new Set(['rate_limited', 'overloaded']);

/** When a failed batch request should run again, or undefined when it should fail now. */
export function parkUntil(envelope: RequestEnvelope, result: ResultEnvelope, now: number, limits: { minParkMs: number; maxParkMs: number }): number | undefined {
  if (envelope.priority !== 'batch' || result.status !== 'failed') return undefined;
  const failure = result.attempts.at(-1)?.failure;
  if (failure === undefined || !parkable.has(failure)) return undefined;
  const retryAfterS = Number(result.errorHeaders?.['retry-after']);
  const waitMs = Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS * 1000 : limits.minParkMs;
  const at = now + Math.min(limits.maxParkMs, Math.max(limits.minParkMs, waitMs));
  return at < envelope.deadline ? at : undefined;
}

/** Parks the request: produced to the delay topic, due again at `notBefore`. */
export async function park(ctx: WorkerContext, message: BusMessage | undefined, envelope: RequestEnvelope, notBefore: number): Promise<void> {
  const parks = Number(message?.headers[parksHeader] ?? 0) + 1;
  await ctx.bus.produce(ctx.topics.delayed, [
    {
      key: envelope.id,
      value: JSON.stringify(envelope),
      headers: { 'spillway-request-id': envelope.id, 'spillway-deadline': String(envelope.deadline), [notBeforeHeader]: String(notBefore), [parksHeader]: String(parks) },
    },
  ]);
  ctx.metrics.parked.inc();
  ctx.logger.info({ requestId: envelope.id, parks, inMs: notBefore - Date.now() }, 'batch request rate limited; parked until its provider resets');
}

/**
 * The delay consumer's handler: waits for the message's time (a timer, not a worker slot), then
 * puts it back on the batch topic. What was not due when the process stopped is redelivered.
 */
export function releaseWhenDue(ctx: WorkerContext, stopping: AbortSignal): (message: BusMessage) => Promise<void> {
  return async (message) => {
    const notBefore = Number(message.headers[notBeforeHeader] ?? 0);
    const waitMs = notBefore - Date.now();
    if (waitMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, waitMs);
        stopping.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('stopping: the parked request will be redelivered'));
        }, { once: true });
      });
    }
    await ctx.bus.produce(ctx.topics.batch, [{ key: message.key ?? undefined, value: message.value, headers: message.headers }]);
  };
}
