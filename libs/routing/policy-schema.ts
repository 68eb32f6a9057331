// The routing configuration: the global `routing:` defaults block, the `models:` aliases, and the
// one policy a request runs under once an alias has been laid over the defaults.
import { z } from 'zod';
import { failureClassSchema } from '#libs/contracts/envelope.ts';

/** Failure classes a retry policy speaks about. cancelled, deadline_exceeded and internal are always final. */
export const retryableClassSchema = failureClassSchema.exclude(['cancelled', 'deadline_exceeded', 'internal']);
export type RetryableClass = z.infer<typeof retryableClassSchema>;

const ms = z.number().int().min(0);
const positiveMs = z.number().int().positive();

export const retryRuleSchema = z.strictObject({
  /** Retries on the same target after the first try. */
  attempts: z.number().int().min(0).max(20),
  /** Cap of the first backoff; each further retry doubles it (full jitter draws below the cap). */
  initialBackoffMs: ms,
  maxBackoffMs: ms,
});
export type RetryRule = z.infer<typeof retryRuleSchema>;

/** Per-class overrides, each field optional: `retry: { server: { attempts: 3 } }`. */
export const retryOverridesSchema = z.partialRecord(retryableClassSchema, retryRuleSchema.partial());
export type RetryOverrides = z.infer<typeof retryOverridesSchema>;

export const retryPolicySchema = z.record(retryableClassSchema, retryRuleSchema);
export type RetryPolicy = z.infer<typeof retryPolicySchema>;

/**
 * Built-in retry defaults. Transient upstream trouble gets two quick retries before failing over;
 * a timeout gets one (it already cost a full timeout); caller faults and bad credentials are never
 * retried on the same target (auth rotates keys instead; context and content have their own chains).
 */
export const defaultRetry: RetryPolicy = {
  rate_limited: { attempts: 2, initialBackoffMs: 1_000, maxBackoffMs: 20_000 },
  overloaded: { attempts: 2, initialBackoffMs: 500, maxBackoffMs: 10_000 },
  server: { attempts: 2, initialBackoffMs: 250, maxBackoffMs: 5_000 },
  network: { attempts: 2, initialBackoffMs: 100, maxBackoffMs: 2_000 },
  timeout: { attempts: 1, initialBackoffMs: 250, maxBackoffMs: 2_000 },
  auth: { attempts: 0, initialBackoffMs: 0, maxBackoffMs: 0 },
  client: { attempts: 0, initialBackoffMs: 0, maxBackoffMs: 0 },
  context_length: { attempts: 0, initialBackoffMs: 0, maxBackoffMs: 0 },
  content_filter: { attempts: 0, initialBackoffMs: 0, maxBackoffMs: 0 },
};

export const timeoutsSchema = z.strictObject({
  /** TCP + TLS handshake. */
  connectMs: positiveMs,
  /**
   * Request sent → response headers of a whole answer; for a stream, → its first chunk with some
   * of the answer (headers and an opening role chunk do not count). Long: reasoning models think
   * before speaking.
   */
  firstByteMs: positiveMs,
  /** Silence allowed between two stream chunks, once the first token came, before the stream counts as stalled. */
  idleMs: positiveMs,
  /** One attempt end to end; the request deadline still caps every attempt. */
  totalMs: positiveMs,
});
export type Timeouts = z.infer<typeof timeoutsSchema>;

export const defaultTimeouts: Timeouts = { connectMs: 10_000, firstByteMs: 120_000, idleMs: 60_000, totalMs: 600_000 };

export const breakerPolicySchema = z.strictObject({
  /** Length of the rolling window the failure rate is measured over. */
  windowMs: positiveMs,
  /** Buckets the window is cut into; the window slides one bucket at a time. */
  buckets: z.number().int().min(1).max(60),
  /** Requests the window must hold before the failure rate may open the breaker. */
  minRequests: z.number().int().min(1),
  /** Share of failures in the window (0..1) that opens the breaker. */
  failureRate: z.number().gt(0).max(1),
  /** Failures in a row that open the breaker whatever the window says. */
  consecutiveFailures: z.number().int().min(1),
  /** How long an open breaker skips its target before letting probes through. */
  openMs: positiveMs,
  /** Probes let through at once while half-open; the first success closes, a failure re-opens. */
  halfOpenProbes: z.number().int().min(1),
});
export type BreakerPolicy = z.infer<typeof breakerPolicySchema>;

export const defaultBreaker: BreakerPolicy = {
  windowMs: 60_000,
  buckets: 10,
  minRequests: 20,
  failureRate: 0.5,
  consecutiveFailures: 5,
  openMs: 30_000,
  halfOpenProbes: 1,
};

export const keyCooldownSchema = z.strictObject({
  /** A key answered 401/403 stays out of rotation this long (someone must fix or rotate it). */
  authMs: positiveMs,
  /** A key answered 429 without a usable reset hint cools this long. */
  rateLimitDefaultMs: positiveMs,
});
export type KeyCooldownPolicy = z.infer<typeof keyCooldownSchema>;

export const defaultKeyCooldown: KeyCooldownPolicy = { authMs: 5 * 60_000, rateLimitDefaultMs: 10_000 };

/** After tokens reached the client: continue the answer on the next target, or end with an error event. */
export const midStreamSchema = z.enum(['continue', 'error']);
export type MidStream = z.infer<typeof midStreamSchema>;

/** Hedging applies to the first attempt of interactive requests only (services/worker/attempts.ts). */
export const hedgeSchema = z.strictObject({
  /** Start the next target too when the primary has sent no first token this long after the call. */
  afterMs: positiveMs,
});
export type Hedge = z.infer<typeof hedgeSchema>;

/** A route name: "provider/model", a bare model a provider serves, or another alias. */
const routeNameSchema = z.string().min(1);

const targetSchema = z.union([
  routeNameSchema.transform((model) => ({ model, weight: 1 })),
  z.strictObject({ model: routeNameSchema, weight: z.number().positive().default(1) }),
]);

export const aliasSchema = z.strictObject({
  /** Load-balanced by weight; `- openai/gpt-4o` is shorthand for weight 1. */
  targets: z.array(targetSchema).min(1, 'an alias needs at least one target'),
  /** Tried in order once the targets failed; an entry may be another alias. */
  fallbacks: z.array(routeNameSchema).default([]),
  /** Where a request goes when a target says the prompt does not fit its context window. */
  contextFallbacks: z.array(routeNameSchema).optional(),
  /** Where a request goes when a target's content policy refused it. */
  contentFallbacks: z.array(routeNameSchema).optional(),
  retry: retryOverridesSchema.optional(),
  timeouts: timeoutsSchema.partial().optional(),
  breaker: breakerPolicySchema.partial().optional(),
  midStream: midStreamSchema.optional(),
  hedge: hedgeSchema.optional(),
});
export type Alias = z.infer<typeof aliasSchema>;

export const modelsSchema = z.record(z.string().min(1), aliasSchema);

/** The `routing:` block: the defaults under every alias. Parsed output is complete. */
export const routingSchema = z.strictObject({
  retry: retryOverridesSchema.default({}).transform((o): RetryPolicy => mergeRetry(defaultRetry, o)),
  timeouts: timeoutsSchema.partial().default({}).transform((o): Timeouts => mergeDefined(defaultTimeouts, o)),
  breaker: breakerPolicySchema.partial().default({}).transform((o): BreakerPolicy => mergeDefined(defaultBreaker, o)),
  keyCooldown: keyCooldownSchema.partial().default({}).transform((o): KeyCooldownPolicy => mergeDefined(defaultKeyCooldown, o)),
  midStream: midStreamSchema.default('continue'),
  hedge: hedgeSchema.optional(),
});
export type RoutingDefaults = z.infer<typeof routingSchema>;

/** The policy one request runs under. */
export const resolvedPolicySchema = z.strictObject({
  retry: retryPolicySchema,
  timeouts: timeoutsSchema,
  breaker: breakerPolicySchema,
  keyCooldown: keyCooldownSchema,
  midStream: midStreamSchema,
  hedge: hedgeSchema.optional(),
});
export type ResolvedPolicy = z.infer<typeof resolvedPolicySchema>;

/** What resolvePolicy and the chain need of the whole config (the lead mounts both keys). */
export interface RoutingConfig {
  routing?: RoutingDefaults;
  models?: Record<string, Alias>;
}

/**
 * The alias's settings laid field by field over the `routing:` defaults (themselves over the
 * built-ins). An unknown or absent alias — a plain "provider/model" request — gets the defaults.
 * The key cooldown is a property of provider keys, not of aliases, so only `routing:` sets it.
 */
export function resolvePolicy(aliasName: string | undefined, config: RoutingConfig): ResolvedPolicy {
  const base = config.routing ?? routingSchema.parse({});
  const alias = aliasName === undefined ? undefined : config.models?.[aliasName];
  const policy: ResolvedPolicy = {
    retry: mergeRetry(base.retry, alias?.retry ?? {}),
    timeouts: mergeDefined(base.timeouts, alias?.timeouts ?? {}),
    breaker: mergeDefined(base.breaker, alias?.breaker ?? {}),
    keyCooldown: base.keyCooldown,
    midStream: alias?.midStream ?? base.midStream,
  };
  const hedge = alias?.hedge ?? base.hedge;
  if (hedge) policy.hedge = hedge;
  return policy;
}

function mergeRetry(base: RetryPolicy, overrides: RetryOverrides): RetryPolicy {
  const merged: RetryPolicy = { ...base };
  for (const cls of retryableClassSchema.options) {
    const o = overrides[cls];
    if (o) merged[cls] = mergeDefined(base[cls], o);
  }
  return merged;
}

/** `base` with every field `over` actually sets (an explicit undefined does not erase a default). */
function mergeDefined<T extends object>(base: T, over: Partial<T>): T {
  const merged = { ...base };
  for (const key of Object.keys(over) as (keyof T)[]) {
    const value = over[key];
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}
