// The shape of spillway.yaml. Every key has a default a first run can live with.
import { z } from 'zod';
import { booleanFromEnv, fromEnvString, keySchema } from './fields.ts';
import { modelsSchema, routingSchema } from '#libs/routing/policy-schema.ts';
import { familyTypes, withFamilyDefaults } from '#libs/providers/openai/family.ts';
import { customerSchema, keyTermsSchema, teamSchema } from '#libs/governance/accounts.ts';
import { anthropicProviderSchema } from '#libs/providers/anthropic/config.ts';
import { bedrockProviderSchema } from '#libs/providers/bedrock/config.ts';
import { geminiProviderSchema, vertexProviderSchema } from '#libs/providers/gemini/config.ts';

const openAICompatibleSchema = z.object({
  /** `openai-compatible` for any server; a family type (groq, mistral, ollama, …) brings its base URL and models. */
  type: z.enum(familyTypes),
  baseUrl: z.url(),
  keys: z.array(keySchema).default([]),
  /** Model names (glob patterns allowed) this provider serves; used to resolve bare names. */
  models: z.array(z.string()).default([]),
  headers: z.record(z.string(), z.string()).default({}),
  /** Connection set-up limit for this provider; call timeouts come from the routing policy. */
  connectTimeoutMs: z.preprocess(fromEnvString, z.number().int().positive().optional()),
});

/** How fast a mock answers: a configured mock provider's, and the automatic one's (`mock:`). */
const mockPacingSchema = z.object({
  /** Time to the first token. */
  latencyMs: z.preprocess(fromEnvString, z.number().min(0).default(0)),
  /** 0 means every token at once. */
  tokensPerSecond: z.preprocess(fromEnvString, z.number().min(0).default(0)),
});

const mockSchema = mockPacingSchema.extend({
  type: z.literal('mock'),
  models: z.array(z.string()).default(['*']),
  reply: z.string().optional(),
});

const azureSchema = z.object({
  type: z.literal('azure'),
  /** The resource endpoint, e.g. https://my-resource.openai.azure.com */
  endpoint: z.url(),
  apiVersion: z.string().default('2024-10-21'),
  /** Model name → deployment name; a model not listed is taken as its own deployment's name. */
  deployments: z.record(z.string(), z.string()).default({}),
  keys: z.array(keySchema).default([]),
  models: z.array(z.string()).default([]),
  headers: z.record(z.string(), z.string()).default({}),
  connectTimeoutMs: z.preprocess(fromEnvString, z.number().int().positive().optional()),
});

export const providerSchema = z.preprocess(withFamilyDefaults, z.discriminatedUnion('type', [openAICompatibleSchema, azureSchema, anthropicProviderSchema, bedrockProviderSchema, geminiProviderSchema, vertexProviderSchema, mockSchema]));
export type ProviderConfig = z.infer<typeof providerSchema>;

/** A key in the config file: its secret, or only the secret's digest (`sha256:<hex>`, e.g. `printf %s "$KEY" | sha256sum`). */
const configKeySchema = keyTermsSchema
  .extend({
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'ids are 1 to 64 letters, digits, ".", "_" and "-"').optional(),
    key: z.string().min(1, 'key must not be empty').optional(),
    keyHash: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256: followed by 64 lower-case hex digits').optional(),
    /** The older name of `customer`: batches get a fair share per customer. */
    tenant: z.string().min(1).optional(),
  })
  .refine((k) => (k.key === undefined) !== (k.keyHash === undefined), 'give exactly one of key and keyHash');

/** USD per million tokens of one model (`model` or `provider/model`, globs allowed). */
const priceSchema = z.strictObject({
  input: z.number().min(0),
  output: z.number().min(0),
  /** Prompt tokens served from the provider's cache; the input price when unset. */
  cachedInput: z.number().min(0).optional(),
});

const partitionsSchema = z.object({
  interactive: z.preprocess(fromEnvString, z.number().int().positive().default(12)),
  batch: z.preprocess(fromEnvString, z.number().int().positive().default(12)),
  results: z.preprocess(fromEnvString, z.number().int().positive().default(12)),
  dlq: z.preprocess(fromEnvString, z.number().int().positive().default(1)),
});

export const configSchema = z.object({
  /** Prefix of every topic, consumer group and Redis key: deployments sharing a cluster stay apart. */
  prefix: z.string().regex(/^[a-zA-Z0-9._-]+$/, 'prefix may hold letters, digits, ".", "_" and "-"').default('spillway'),
  server: z
    .object({
      host: z.string().default('0.0.0.0'),
      port: z.preprocess(fromEnvString, z.number().int().min(0).max(65535).default(8080)),
      bodyLimitBytes: z.preprocess(fromEnvString, z.number().int().positive().default(10 * 1024 * 1024)),
    })
    .prefault({}),
  results: z
    .object({
      port: z.preprocess(fromEnvString, z.number().int().min(0).max(65535).default(8081)),
      ttlSeconds: z.preprocess(fromEnvString, z.number().int().positive().default(24 * 3600)),
    })
    .prefault({}),
  worker: z
    .object({
      port: z.preprocess(fromEnvString, z.number().int().min(0).max(65535).default(8082)),
      concurrency: z.preprocess(fromEnvString, z.number().int().positive().default(256)),
      /** Batch requests one worker runs at once; they also wait while interactive load is high. */
      batchConcurrency: z.preprocess(fromEnvString, z.number().int().positive().default(64)),
      /** While interactive requests arrive, batch requests start only while the event loop's delay (p99, 100 ms windows) stays under this; 0 turns it off. */
      batchYieldLagMs: z.preprocess(fromEnvString, z.number().int().min(0).default(5)),
      /** A rate-limited batch request is parked at least this long, and at most maxParkMs, whatever its provider says. */
      minParkMs: z.preprocess(fromEnvString, z.number().int().positive().default(1_000)),
      maxParkMs: z.preprocess(fromEnvString, z.number().int().positive().default(300_000)),
      claimLeaseMs: z.preprocess(fromEnvString, z.number().int().min(1_000).default(10_000)),
    })
    .prefault({}),
  kafka: z
    .object({
      brokers: z.array(z.string().min(1)).default([]),
      clientId: z.string().default('spillway'),
      /** The Kafka client library behind the bus: kafkajs (default) or @platformatic/kafka (less CPU per message). */
      client: z.enum(['kafkajs', 'platformatic']).default('kafkajs'),
      partitions: partitionsSchema.prefault({}),
      replicationFactor: z.preprocess(fromEnvString, z.number().int().positive().optional()),
      produceTimeoutMs: z.preprocess(fromEnvString, z.number().int().positive().default(5_000)),
      fetchMaxWaitMs: z.preprocess(fromEnvString, z.number().int().positive().default(100)),
      /** How long a silent consumer keeps its partitions; also how long a rejoin after a broker restart can wait. */
      sessionTimeoutMs: z.preprocess(fromEnvString, z.number().int().min(6_000).default(10_000)),
    })
    .prefault({}),
  redis: z.object({ url: z.string().optional() }).prefault({}),
  /**
   * Who may call the API: customers, their teams, and keys (Authorization: Bearer, x-api-key, or
   * the WebSocket subprotocol). More are made through the admin API (services/admin).
   */
  auth: z
    .object({
      /**
       * Authentication is on unless this is false (env SPILLWAY_AUTH_ENABLED). Unset, the embedded
       * default runs open when it has no keys and no admin key, and says so at start-up.
       */
      enabled: z.preprocess(booleanFromEnv, z.boolean().optional()),
      /** Besides the change notices every replica gets at once, each reloads every account this often. */
      refreshIntervalMs: z.preprocess(fromEnvString, z.number().int().min(1_000).default(30_000)),
      customers: z.array(customerSchema).default([]),
      teams: z.array(teamSchema).default([]),
      keys: z.array(configKeySchema).default([]),
    })
    .prefault({})
    .superRefine((auth, ctx) => {
      const customers = new Set(auth.customers.map((c) => c.id));
      const teams = new Set(auth.teams.map((t) => t.id));
      auth.teams.forEach((team, i) => {
        if (!customers.has(team.customer)) ctx.addIssue({ code: 'custom', path: ['teams', i, 'customer'], message: `no customer '${team.customer}' in auth.customers` });
      });
      auth.keys.forEach((key, i) => {
        if (key.team !== undefined && !teams.has(key.team)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'team'], message: `no team '${key.team}' in auth.teams` });
        if (key.customer !== undefined && !customers.has(key.customer)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'customer'], message: `no customer '${key.customer}' in auth.customers` });
      });
    }),
  /** The operators' side: the live dashboard at /dashboard (services/dashboard). */
  admin: z
    .object({
      /** The admin credential (env SPILLWAY_ADMIN_KEY); without it the dashboard is off. Client keys never open it. */
      key: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(16, 'must be at least 16 characters (e.g. `openssl rand -hex 24`)').optional()),
      /** How often every process publishes its dashboard counters to the store, and the dashboard samples them. */
      snapshotIntervalMs: z.preprocess(fromEnvString, z.number().int().min(250).default(2_000)),
    })
    .prefault({}),
  idempotency: z
    .object({ windowSeconds: z.preprocess(fromEnvString, z.number().int().positive().default(24 * 3600)) })
    .prefault({}),
  /** Uploaded files (/v1/files): a directory, shared by every ingest node when there are several. */
  files: z
    .object({
      dir: z.string().min(1).default('./data/files'),
      /** The largest upload accepted, whatever its purpose (OpenAI's batch input limit, 200 MB, by default). */
      maxBytes: z.preprocess(fromEnvString, z.number().int().positive().default(200 * 1024 * 1024)),
    })
    .prefault({}),
  streams: z.object({ replayTtlSeconds: z.preprocess(fromEnvString, z.number().int().positive().default(3600)) }).prefault({}),
  /** The Batches API. */
  batches: z
    .object({
      /** How long `completion_window: "24h"` lasts; shorter only for tests and drills. */
      windowSeconds: z.preprocess(fromEnvString, z.number().int().positive().default(86_400)),
      /** Past its window plus this, a batch still waiting on results is ended `expired` by the sweeper. */
      expiryGraceSeconds: z.preprocess(fromEnvString, z.number().int().min(0).default(60)),
      sweepIntervalMs: z.preprocess(fromEnvString, z.number().int().positive().default(60_000)),
      /**
       * Lines of one tenant's batches queued or running at once. Lines past it wait in their input
       * file, so another tenant's batch is never queued behind them.
       */
      maxInFlightPerTenant: z.preprocess(fromEnvString, z.number().int().positive().default(1000)),
      /** How often the feeder tops up each tenant's lines. */
      feedIntervalMs: z.preprocess(fromEnvString, z.number().int().positive().default(250)),
      /** Finished batches are forgotten (404, gone from lists) this long after they were created; their files stay. */
      retentionDays: z.preprocess(fromEnvString, z.number().positive().default(30)),
    })
    .prefault({}),
  /** The WebSocket endpoint (/v1/realtime). */
  realtime: z
    .object({
      pingIntervalMs: z.preprocess(fromEnvString, z.number().int().positive().default(30_000)),
      /** A socket with nothing in flight and no frame for this long is closed (code 4000). */
      idleTimeoutMs: z.preprocess(fromEnvString, z.number().int().positive().default(300_000)),
      /** Unsent bytes a client may fall behind by before it is closed as a slow consumer (code 1008). */
      maxBufferedBytes: z.preprocess(fromEnvString, z.number().int().positive().default(8 * 1024 * 1024)),
    })
    .prefault({}),
  defaults: z
    .object({
      deadlineMs: z.preprocess(fromEnvString, z.number().int().positive().default(300_000)),
    })
    .prefault({}),
  /** Retry, timeout, breaker, cooldown, mid-stream and hedging defaults under every alias. */
  routing: routingSchema.prefault({}),
  /** Model aliases: weighted targets, fallback chains and their own policy. */
  models: modelsSchema.default({}),
  providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'provider names are lower-case letters, digits, "-" and "_"'), providerSchema).default({}),
  /** What usage costs, for budgets: `model` or `provider/model` (globs allowed) → USD per million tokens. */
  pricing: z.record(z.string().min(1), priceSchema).default({}),
  /** The pacing of the built-in mock that answers every model when no provider is configured. */
  mock: mockPacingSchema.prefault({}),
  /** Signed delivery of async results to the URL in `x-spillway-webhook-url` (Standard Webhooks). */
  webhooks: z
    .object({
      /** `whsec_` + base64 of 24 to 64 random bytes; without it, a request naming a webhook is refused. */
      secret: z.preprocess(
        (value) => (value === '' ? undefined : value),
        z
          .string()
          .regex(/^(whsec_)?[A-Za-z0-9+/]+={0,2}$/, 'must be whsec_ followed by base64 (e.g. `echo whsec_$(openssl rand -base64 32)`)')
          .refine((secret) => {
            const bytes = Buffer.from(secret.replace(/^whsec_/, ''), 'base64').length;
            return bytes >= 24 && bytes <= 64;
          }, 'must decode to 24 to 64 bytes (e.g. `echo whsec_$(openssl rand -base64 32)`)')
          .optional(),
      ),
      /** The wait before the first retry; it doubles per failed try up to maxBackoffMs. */
      initialBackoffMs: z.preprocess(fromEnvString, z.number().int().positive().default(1_000)),
      maxBackoffMs: z.preprocess(fromEnvString, z.number().int().positive().default(300_000)),
      /** No retry is scheduled once this long has passed since the request completed. */
      maxAgeSeconds: z.preprocess(fromEnvString, z.number().int().positive().default(24 * 3600)),
      /** One try: connect, send and receive the answer's headers. */
      timeoutMs: z.preprocess(fromEnvString, z.number().int().positive().default(10_000)),
      /**
       * Deliver to loopback, private, link-local and other internal addresses. Off by default:
       * a client-supplied URL must not reach the gateway's own network (cloud metadata, Redis).
       */
      allowPrivateNetworks: z.preprocess(booleanFromEnv, z.boolean().default(false)),
      /** Deliveries in flight (retries waiting included); at the limit, the webhook consumer stops fetching. */
      concurrency: z.preprocess(fromEnvString, z.number().int().positive().default(256)),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
