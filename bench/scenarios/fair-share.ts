// Fair share between tenants through the Batch API: how long one tenant's 10-line batch takes
// alone, and while another tenant's 50,000-line batch created before it is running. The
// feeder gives each tenant at most batches.maxInFlightPerTenant lines at a time, so the small
// batch waits behind that many lines of the large one, not all of them. The third row runs the
// same with the limit lifted (every line queued at once, as before fair share) for contrast.
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import type { FairnessReport, FairnessRun, Scenario, ScenarioContext } from '../scenario.ts';
import { startSpillway, startUpstream, type Target } from '../targets.ts';

const upstreamLatencyMs = 50;
const batchConcurrency = 64;
const largeLines = 50_000;
const smallLines = 10;
const keys = { large: 'sk-bench-tenant-large', small: 'sk-bench-tenant-small' };

interface BatchView {
  id: string;
  status: string;
  request_counts: { total: number; completed: number; failed: number };
}

function inputFile(tenant: string, lines: number): Blob {
  const line = (i: number): string => JSON.stringify({ custom_id: `${tenant}-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `${tenant} ${i}` }] } });
  return new Blob([Array.from({ length: lines }, (_, i) => line(i)).join('\n')]);
}

async function call<T>(target: Target, key: string, method: string, url: string, body?: FormData | object): Promise<T> {
  const res = await fetch(`${target.origin}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}) },
    body: body instanceof FormData ? body : body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function createBatch(target: Target, key: string, tenant: string, lines: number): Promise<BatchView> {
  const form = new FormData();
  form.set('purpose', 'batch');
  form.set('file', inputFile(tenant, lines), `${tenant}.jsonl`);
  const file = await call<{ id: string }>(target, key, 'POST', '/v1/files', form);
  return call<BatchView>(target, key, 'POST', '/v1/batches', { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
}

async function until(target: Target, key: string, id: string, done: (b: BatchView) => boolean): Promise<BatchView> {
  for (;;) {
    const batch = await call<BatchView>(target, key, 'GET', `/v1/batches/${id}`);
    if (done(batch)) return batch;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const finished = (b: BatchView): boolean => ['completed', 'failed', 'expired', 'cancelled'].includes(b.status);

async function run(ctx: ScenarioContext): Promise<FairnessReport> {
  const upstream = await startUpstream({ latencyMs: upstreamLatencyMs, tokenIntervalMs: 0, logDir: ctx.logDir, label: 'fair-share' });
  const runs: FairnessRun[] = [];
  const measure = async (label: string, maxInFlightPerTenant: number, withLarge: boolean): Promise<void> => {
    const files = await mkdtemp(path.join(ctx.logDir, 'files-'));
    const spillway = await startSpillway({
      bin: ctx.options.spillwayBin,
      upstream,
      services: ctx.services,
      workerConcurrency: 256,
      batchConcurrency,
      logDir: ctx.logDir,
      label: `fair-share-${runs.length}`,
      config: [
        `auth: { keys: [{ id: large, key: ${keys.large}, tenant: large }, { id: small, key: ${keys.small}, tenant: small }] }`,
        `files: { dir: ${files} }`,
        `batches: { maxInFlightPerTenant: ${maxInFlightPerTenant} }`,
      ],
    });
    try {
      const large = withLarge ? await createBatch(spillway, keys.large, 'large', largeLines) : undefined;
      if (large) await until(spillway, keys.large, large.id, (b) => b.request_counts.completed > 0);
      const started = performance.now();
      const small = await createBatch(spillway, keys.small, 'small', smallLines);
      const done = await until(spillway, keys.small, small.id, finished);
      const smallBatchMs = performance.now() - started;
      if (done.status !== 'completed') throw new Error(`the small batch ended ${done.status}`);
      const largeThen = large ? await call<BatchView>(spillway, keys.large, 'GET', `/v1/batches/${large.id}`) : undefined;
      runs.push({ beside: label, smallBatchMs, largeDoneThen: largeThen && largeThen.request_counts.completed + largeThen.request_counts.failed, largeTotal: largeThen?.request_counts.total });
      ctx.log(`  ${label}: small batch done in ${smallBatchMs.toFixed(0)} ms${largeThen ? `, large batch at ${largeThen.request_counts.completed} of ${largeLines}` : ''}`);
    } finally {
      await spillway.child.stop();
    }
  };
  try {
    await measure('nothing (alone)', 1_000, false);
    await measure(`another tenant's ${largeLines}-line batch, fair share (maxInFlightPerTenant 1000)`, 1_000, true);
    await measure(`another tenant's ${largeLines}-line batch, every line queued at once`, 1_000_000, true);
  } finally {
    await upstream.child.stop();
  }
  return {
    kind: 'fairness',
    scenario: 'fair-share',
    measures: fairShare.measures,
    setup: { 'upstream latency ms': upstreamLatencyMs, 'worker batchConcurrency': batchConcurrency, 'large batch lines': largeLines, 'small batch lines': smallLines },
    runs,
  };
}

export const fairShare: Scenario = {
  name: 'fair-share',
  measures: `How long a tenant's ${smallLines}-line batch takes alone, and while another tenant's ${largeLines}-line batch created before it runs: with fair share, and with every line queued at once.`,
  run,
};
