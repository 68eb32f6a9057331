// Webhook delivery: reads the results topic in its own consumer group and POSTs each result that
// names a webhook to it, signed (Standard Webhooks), retrying with backoff until a 2xx, a final
// 4xx, or webhooks.maxAgeSeconds after the request completed. A message is done only when its
// delivery is, so a crash redelivers it (at least once; receivers dedupe on `webhook-id`).
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { readResult, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import { groupIds } from '#libs/bus/topics.ts';
import type { BusMessage } from '#libs/bus/bus.ts';
import { explicitRetryAfter } from '#libs/routing/retry-after.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { requestView } from './request-view.ts';
import { signWebhook, webhookKey } from './webhook-signature.ts';
import { PrivateAddressError, privateLiteralHost, publicOnlyLookup } from '#libs/http/private-address.ts';

const privateAddressCode = new PrivateAddressError('').code;
import { retryDelayMs, tryOutcome } from './webhook-retry.ts';

/** What a webhook POSTs: an event, in the shape OpenAI's webhooks use. */
export interface WebhookEvent {
  /** Also the `webhook-id` header: the same for every try, so receivers dedupe on it. */
  id: string;
  type: string;
  created_at: number;
  data: unknown;
}

/** POSTs `event` to `url`, signed, until a 2xx, a final 4xx or `giveUpAt`; throws only when stopping. */
export type SendWebhook = (url: string, event: WebhookEvent, giveUpAt: number, logFields: Record<string, unknown>) => Promise<void>;

export interface WebhookDeliverer {
  /** Undefined when webhook delivery is off (no webhooks.secret). */
  send: SendWebhook | undefined;
  /** Stops taking results, lets tries in flight finish within graceMs; waiting retries are redelivered later. */
  stop(graceMs?: number): Promise<void>;
}

/** The answer to one try: the receiver's status, or the reason there was none. */
type Try = { status: number; retryAfterMs: number | undefined } | { status: undefined; error: string };

export async function startWebhooks(runtime: Runtime): Promise<WebhookDeliverer> {
  const log = runtime.logger.child({ service: 'webhooks' });
  const { config, metrics } = runtime;
  const settings = config.webhooks;
  if (settings.secret === undefined) {
    log.info('webhooks.secret is not set: webhook delivery is off, and requests naming a webhook are refused');
    return { send: undefined, stop: async () => undefined };
  }
  const key = webhookKey(settings.secret);
  // Aborted at stop: no new try starts and waiting retries end (their messages are redelivered).
  const stopping = new AbortController();
  // Aborted once the grace period is over: tries still in flight are cut.
  const halted = new AbortController();
  const allowPrivate = settings.allowPrivateNetworks;
  const agent = new Agent({ connect: { timeout: settings.timeoutMs, ...(allowPrivate ? {} : { lookup: publicOnlyLookup }) }, keepAliveTimeout: 30_000 });

  async function tryOnce(url: string, id: string, body: string): Promise<Try> {
    const timestamp = Math.floor(Date.now() / 1000);
    // A literal address is never looked up, so the lookup's check cannot see it.
    if (!allowPrivate && privateLiteralHost(url) !== undefined) return { status: undefined, error: privateAddressCode };
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'spillway-webhooks',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(key, id, timestamp, body),
        },
        body,
        headersTimeout: settings.timeoutMs,
        bodyTimeout: settings.timeoutMs,
        signal: AbortSignal.any([AbortSignal.timeout(settings.timeoutMs), halted.signal]),
      });
      // The answer's body means nothing here; reading it frees the connection.
      await res.body.dump().catch(() => undefined);
      return { status: res.statusCode, retryAfterMs: explicitRetryAfter(res.headers, Date.now()) };
    } catch (err) {
      // Only the error's name and code: a message may quote the URL, whose path can hold a token.
      const e = err as { name?: string; code?: string; cause?: { code?: string } };
      return { status: undefined, error: e.cause?.code === privateAddressCode ? privateAddressCode : (e.code ?? e.name ?? 'error') };
    }
  }

  const send: SendWebhook = async (url, event, giveUpAt, logFields) => {
    const body = JSON.stringify(event);
    const host = new URL(url).host;
    for (let tries = 1; ; tries++) {
      stopping.signal.throwIfAborted();
      const answer = await tryOnce(url, event.id, body);
      const outcome = tryOutcome(answer.status);
      const fields = { ...logFields, type: event.type, host, tries, status: answer.status, ...('error' in answer ? { error: answer.error } : {}) };
      if (outcome === 'delivered') {
        metrics.webhookDeliveries.inc({ outcome: 'delivered' });
        log.info(fields, 'webhook delivered');
        return;
      }
      if ('error' in answer && answer.error === privateAddressCode) {
        metrics.webhookDeliveries.inc({ outcome: 'rejected' });
        log.warn(fields, 'webhook not sent: its host is a private address (set webhooks.allowPrivateNetworks to allow it)');
        return;
      }
      if (outcome === 'rejected') {
        metrics.webhookDeliveries.inc({ outcome: 'rejected' });
        log.warn(fields, 'webhook rejected by its receiver; not retried');
        return;
      }
      // A try cut short by shutdown says nothing about the receiver: the message is redelivered.
      stopping.signal.throwIfAborted();
      const delayMs = retryDelayMs(tries, settings, Math.random, 'retryAfterMs' in answer ? answer.retryAfterMs : undefined);
      if (Date.now() + delayMs > giveUpAt) {
        metrics.webhookDeliveries.inc({ outcome: 'expired' });
        log.warn({ ...fields, maxAgeSeconds: settings.maxAgeSeconds }, 'webhook not delivered before webhooks.maxAgeSeconds; giving up');
        return;
      }
      log.info({ ...fields, retryInMs: delayMs }, 'webhook try failed; retrying');
      await sleep(delayMs, undefined, { signal: stopping.signal });
    }
  };

  /** Resolves once delivered or given up; throws only when stopping (the message is redelivered). */
  async function deliver(result: ResultEnvelope, url: string): Promise<void> {
    const event = { id: result.id, type: result.status === 'succeeded' ? 'request.completed' : 'request.failed', created_at: Math.floor(result.completedAt / 1000), data: requestView(result.id, result) };
    await send(url, event, result.completedAt + settings.maxAgeSeconds * 1000, { requestId: result.id });
  }

  async function handle(message: BusMessage): Promise<void> {
    const result = readResult(message.value);
    if (result?.webhook) await deliver(result, result.webhook.url);
  }

  const consumer = await runtime.bus.consume({
    groupId: groupIds(config.prefix).webhooks,
    topics: [runtime.topics.results],
    concurrency: settings.concurrency,
    handle,
  });

  return {
    send,
    async stop(graceMs) {
      // The consumer marks itself stopping first, so the aborted handlers are abandoned, not retried.
      const stopped = consumer.stop(graceMs);
      stopping.abort(new Error('webhook delivery is stopping'));
      await stopped;
      halted.abort(new Error('webhook delivery stopped'));
      await agent.close().catch(() => undefined);
    },
  };
}
