// Prometheus metrics, one registry per process, served at /metrics by every service.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'route' | 'status'>;
  requests: Counter<'provider' | 'model' | 'outcome'>;
  attempts: Counter<'provider' | 'model' | 'failure'>;
  upstreamLatency: Histogram<'provider' | 'model'>;
  upstreamTtft: Histogram<'provider' | 'model'>;
  tokens: Counter<'provider' | 'model' | 'kind'>;
  deadLetters: Counter<'reason'>;
  parked: Counter;
  retries: Counter<'provider' | 'model' | 'failure'>;
  fallbacks: Counter<'from' | 'to' | 'reason'>;
  keyCooldowns: Counter<'key' | 'reason'>;
  breakerState: Gauge<'kind' | 'id' | 'state'>;
  webhookDeliveries: Counter<'outcome'>;
  admissionRefusals: Counter<'reason'>;
  spendMicroUsd: Counter<'model'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'spillway_' });
  const registers = [registry];
  const seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  return {
    registry,
    httpRequests: new Counter({ name: 'spillway_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['route', 'status'], registers }),
    requests: new Counter({ name: 'spillway_requests_total', help: 'Requests a worker finished, each once, by the provider and model of the last attempt (none when none was made) and the outcome (request-outcome.ts)', labelNames: ['provider', 'model', 'outcome'], registers }),
    attempts: new Counter({ name: 'spillway_upstream_attempts_total', help: 'Upstream attempts, by target and failure class (none for success)', labelNames: ['provider', 'model', 'failure'], registers }),
    upstreamLatency: new Histogram({ name: 'spillway_upstream_latency_seconds', help: 'Upstream call duration until the last byte', labelNames: ['provider', 'model'], buckets: seconds, registers }),
    upstreamTtft: new Histogram({ name: 'spillway_upstream_ttft_seconds', help: 'Upstream time to first token (streams) or first byte', labelNames: ['provider', 'model'], buckets: seconds, registers }),
    tokens: new Counter({ name: 'spillway_tokens_total', help: 'Tokens reported by upstream usage, by kind (prompt, completion)', labelNames: ['provider', 'model', 'kind'], registers }),
    retries: new Counter({ name: 'spillway_retries_total', help: 'Retries on the same target, by the failure class that caused them', labelNames: ['provider', 'model', 'failure'], registers }),
    fallbacks: new Counter({ name: 'spillway_fallbacks_total', help: 'Moves from one target to another (key rotations included), by reason', labelNames: ['from', 'to', 'reason'], registers }),
    keyCooldowns: new Counter({ name: 'spillway_key_cooldowns_total', help: 'Provider keys taken out of rotation (by key id: provider:id), by reason (rate_limited, auth)', labelNames: ['key', 'reason'], registers }),
    breakerState: new Gauge({ name: 'spillway_breaker_state', help: '1 for the current state of each circuit breaker (kind target or key)', labelNames: ['kind', 'id', 'state'], registers }),
    deadLetters: new Counter({ name: 'spillway_dead_letters_total', help: 'Kafka messages sent to the dead-letter topic, by reason', labelNames: ['reason'], registers }),
    parked: new Counter({ name: 'spillway_batch_parked_total', help: 'Batch requests parked on the delay topic until their rate-limited provider resets', registers }),
    admissionRefusals: new Counter({ name: 'spillway_admission_refusals_total', help: 'Requests refused at admission by a key, team or customer limit, by reason (requests, tokens, budget)', labelNames: ['reason'], registers }),
    spendMicroUsd: new Counter({ name: 'spillway_spend_microdollars_total', help: 'Spend counted from usage events (each request once), in micro-USD, by model', labelNames: ['model'], registers }),
    webhookDeliveries: new Counter({
      name: 'spillway_webhook_deliveries_total',
      help: 'Webhook deliveries finished, by outcome (delivered, rejected: a final 4xx, expired: gave up after webhooks.maxAgeSeconds)',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
