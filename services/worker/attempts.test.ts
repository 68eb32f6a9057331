// runAttempts on the embedded runtime with the built-in mock provider: what the worker does around
// routing's decisions — logs and metrics of a first choice that skips the primary, and which
// requests hedge. Upstream faults through real HTTP are in test/failover.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '#libs/config/load.ts';
import { requestEnvelopeSchema, type RequestEnvelope } from '#libs/contracts/envelope.ts';
import { resolvePolicy } from '#libs/routing/policy-schema.ts';
import { closeRuntime, createRuntime } from '#libs/runtime/runtime.ts';
import { capturingLogger, logFields, type LogFields } from '#test/support/log-lines.ts';
import { runAttempts } from './attempts.ts';
import type { WorkerContext } from './execute.ts';
import { HealthCache } from './health-cache.ts';

interface Harness {
  ctx: WorkerContext;
  logs: string[];
  close(): Promise<void>;
}

async function startWorkerContext(raw: Record<string, unknown>): Promise<Harness> {
  const config = loadConfig({ env: {}, overrides: (r) => Object.assign(r, raw) });
  const { logger, logs } = capturingLogger();
  const runtime = await createRuntime(config, logger);
  const health = new HealthCache(runtime.store, logger, runtime.metrics);
  await health.start();
  return {
    ctx: { ...runtime, workerId: 'worker-test', health, claims: new Map() },
    logs,
    async close() {
      await health.stop();
      await closeRuntime(runtime);
    },
  };
}

let sequence = 0;

function envelope(model: string, priority: 'interactive' | 'batch' = 'interactive'): RequestEnvelope {
  const now = Date.now();
  return requestEnvelopeSchema.parse({
    v: 1,
    id: `req_attempts_test_${++sequence}`,
    operation: 'chat',
    body: { model, messages: [{ role: 'user', content: 'hello' }] },
    route: { model },
    reply: { mode: 'sync' },
    acceptedAt: now,
    deadline: now + 10_000,
    priority,
  });
}

async function fallbackCount(ctx: WorkerContext, labels: Record<string, string>): Promise<number> {
  const { values } = await ctx.metrics.fallbacks.get();
  return values
    .filter((v) => {
      const found = new Map(Object.entries(v.labels));
      return Object.entries(labels).every(([k, want]) => found.get(k) === want);
    })
    .reduce((sum, v) => sum + v.value, 0);
}

function linesOf(logs: readonly string[], requestId: string): LogFields[] {
  return logs.flatMap((line) => {
    const fields = logFields(line);
    return fields && fields.requestId === requestId ? [fields] : [];
  });
}

const never = new AbortController().signal;

describe('a first choice that skips the primary', () => {
  let h: Harness;

  before(async () => {
    h = await startWorkerContext({
      providers: {
        primary: { type: 'mock', models: ['m'] },
        keyed: { type: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', keys: [{ id: 'k1', key: 'sk-never-used' }], models: ['m'] },
        backup: { type: 'mock', models: ['m'] },
      },
      models: {
        chat: { targets: ['primary/m'], fallbacks: ['backup/m'] },
        cooling: { targets: ['keyed/m'], fallbacks: ['backup/m'] },
        healthy: { targets: ['backup/m'] },
      },
      routing: { breaker: { consecutiveFailures: 1 } },
    });
  });

  after(async () => {
    await h?.close();
  });

  it('first_choice_skip_unlogged: a primary whose breaker is open is logged and counted as a fallback', async () => {
    const { ctx } = h;
    const policy = resolvePolicy('chat', ctx.registry.routingView());
    ctx.health.record('primary/m', undefined, 'server', { target: false, key: false }, policy.breaker, Date.now());
    const counted = await fallbackCount(ctx, { from: 'primary/m', to: 'backup/m', reason: 'breaker_open' });

    const request = envelope('chat');
    const result = await runAttempts(ctx, request, undefined, never);

    assert.equal(result.status, 'succeeded');
    assert.equal(result.provider, 'backup');
    assert.equal((await fallbackCount(ctx, { from: 'primary/m', to: 'backup/m', reason: 'breaker_open' })) - counted, 1);
    const skips = linesOf(h.logs, request.id).filter((l) => l.msg === 'first attempt skips unhealthy targets');
    assert.equal(skips.length, 1, 'one line per request');
    assert.equal(skips[0]?.to, 'backup/m');
    assert.deepEqual(skips[0]?.skipped, ['primary/m:breaker_open']);
  });

  it('first_choice_skip_unlogged: a primary whose keys all cool down is logged and counted as a fallback', async () => {
    const { ctx } = h;
    ctx.health.applyCooldown({ key: 'keyed:k1', cooldown: { until: Date.now() + 60_000, reason: 'rate_limited' } });
    const counted = await fallbackCount(ctx, { from: 'keyed/m', to: 'backup/m', reason: 'keys_out' });

    const request = envelope('cooling');
    const result = await runAttempts(ctx, request, undefined, never);

    assert.equal(result.status, 'succeeded');
    assert.equal(result.provider, 'backup');
    assert.equal(result.attempts.length, 1, 'the cooling key was not called');
    assert.equal((await fallbackCount(ctx, { from: 'keyed/m', to: 'backup/m', reason: 'keys_out' })) - counted, 1);
    const skips = linesOf(h.logs, request.id).filter((l) => l.msg === 'first attempt skips unhealthy targets');
    assert.equal(skips.length, 1);
    assert.deepEqual(skips[0]?.skipped, ['keyed/m:keys_out']);
  });

  it('nothing is logged or counted when the primary is taken', async () => {
    const { ctx } = h;
    const counted = await fallbackCount(ctx, {});
    const request = envelope('healthy');
    const result = await runAttempts(ctx, request, undefined, never);
    assert.equal(result.provider, 'backup');
    assert.equal(await fallbackCount(ctx, {}), counted);
    assert.deepEqual(
      linesOf(h.logs, request.id).filter((l) => l.msg === 'first attempt skips unhealthy targets'),
      [],
    );
  });
});

describe('hedging by priority', () => {
  let h: Harness;

  before(async () => {
    h = await startWorkerContext({
      providers: {
        slow: { type: 'mock', models: ['m'], latencyMs: 400, reply: 'from slow' },
        fast: { type: 'mock', models: ['m'], reply: 'from fast' },
      },
      models: { quick: { targets: ['slow/m'], fallbacks: ['fast/m'], hedge: { afterMs: 20 } } },
    });
  });

  after(async () => {
    await h?.close();
  });

  it('an interactive request hedges: the fast fallback answers and the slow primary is cancelled', async () => {
    const result = await runAttempts(h.ctx, envelope('quick'), undefined, never);
    assert.equal(result.provider, 'fast');
    assert.deepEqual(
      result.attempts.map((a) => [a.provider, a.failure ?? 'ok']),
      [
        ['slow', 'cancelled'],
        ['fast', 'ok'],
      ],
    );
  });

  it('batch_priority_hedged: a batch-priority request never hedges (it is not latency sensitive, and a hedge doubles its cost)', async () => {
    const hedgesBefore = await fallbackCount(h.ctx, { reason: 'hedge' });
    const result = await runAttempts(h.ctx, envelope('quick', 'batch'), undefined, never);
    assert.equal(result.provider, 'slow');
    assert.deepEqual(
      result.attempts.map((a) => [a.provider, a.failure ?? 'ok']),
      [['slow', 'ok']],
    );
    assert.equal(await fallbackCount(h.ctx, { reason: 'hedge' }), hedgesBefore);
  });
});
