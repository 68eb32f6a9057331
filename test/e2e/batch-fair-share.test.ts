// Fair share between tenants, with the official openai SDK on real Kafka and Redis (and again
// embedded): two client keys of two tenants; one submits a large batch, the other a small one
// after it. The small batch finishes while the large one is still running, because each
// tenant's lines are fed to Kafka a share at a time (batches.maxInFlightPerTenant) instead of
// all queuing up in front of everyone else's.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { modes, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { printLogsOnFailure, waitForLog } from '#test/support/log-lines.ts';

const bigLines = 120;
const smallLines = 10;

const input = (tenant: string, count: number): Buffer =>
  Buffer.from(
    Array.from({ length: count }, (_, i) =>
      JSON.stringify({ custom_id: `${tenant}-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `${tenant} ${i}` }] } }),
    ).join('\n'),
  );

for (const mode of modes) describe(`batch fair share between tenants (${mode})`, () => {
  let dir: string;
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let alpha: OpenAI;
  let beta: OpenAI;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spillway-fair-share-'));
    upstream = await startFakeOpenAI({ latencyMs: 40 });
    gateway = await startTestGateway({
      mode,
      config: {
        files: { dir },
        auth: {
          keys: [
            { id: 'alpha-key', key: 'sk-alpha-client', tenant: 'alpha' },
            { id: 'beta-key', key: 'sk-beta-client', tenant: 'beta' },
          ],
        },
        worker: { batchConcurrency: 2 },
        batches: { maxInFlightPerTenant: 4, feedIntervalMs: 20 },
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
      },
    });
    alpha = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-alpha-client', maxRetries: 0 });
    beta = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-beta-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  afterEach(printLogsOnFailure(() => gateway?.logs));

  async function create(client: OpenAI, tenant: string, count: number): Promise<Batch> {
    const file = await client.files.create({ file: await OpenAI.toFile(input(tenant, count), `${tenant}.jsonl`), purpose: 'batch' });
    return client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  }

  /** Polls as a client would until `done` holds for the batch. */
  async function until(client: OpenAI, id: string, done: (batch: Batch) => boolean, timeoutMs = 60_000): Promise<Batch> {
    const giveUp = Date.now() + timeoutMs;
    for (;;) {
      const batch = await client.batches.retrieve(id);
      if (done(batch)) return batch;
      if (Date.now() > giveUp) assert.fail(`batch ${id} is ${batch.status} ${JSON.stringify(batch.request_counts)} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  const finished = (batch: Batch): boolean => ['completed', 'failed', 'expired', 'cancelled'].includes(batch.status);

  it("finishes another tenant's small batch while a large batch submitted before it is still running", async () => {
    const big = await create(alpha, 'alpha', bigLines);
    await until(alpha, big.id, (b) => b.request_counts?.completed !== undefined && b.request_counts.completed > 0);

    const small = await create(beta, 'beta', smallLines);
    const smallDone = await until(beta, small.id, finished);
    assert.equal(smallDone.status, 'completed');
    assert.deepEqual(smallDone.request_counts, { total: smallLines, completed: smallLines, failed: 0 });
    const bigMeanwhile = await alpha.batches.retrieve(big.id);
    assert.equal(bigMeanwhile.status, 'in_progress', 'the large batch is still running when the small one is done');
    assert.ok((bigMeanwhile.request_counts?.completed ?? 0) < bigLines - 20, `the large batch had ${JSON.stringify(bigMeanwhile.request_counts)} when the small one finished`);

    // While its lines are still being fed, the large batch's input file cannot be deleted.
    await assert.rejects(alpha.files.delete(big.input_file_id), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 409);
      assert.equal(err.code, 'file_in_use');
      assert.match(err.message, new RegExp(big.id));
      return true;
    });

    const bigDone = await until(alpha, big.id, finished);
    assert.equal(bigDone.status, 'completed');
    assert.deepEqual(bigDone.request_counts, { total: bigLines, completed: bigLines, failed: 0 });
    const output = (await (await alpha.files.content(bigDone.output_file_id ?? '')).text()).split('\n').filter(Boolean);
    const customIds = output.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
    assert.equal(new Set(customIds).size, bigLines, 'every line of the large batch answered exactly once');
    assert.equal(upstream.requests.length, bigLines + smallLines, 'no line ran twice');
    await alpha.files.delete(big.input_file_id);
  });

  it('cancels a batch whose lines are still waiting in its input file: they never run and are in the error file as cancelled', async () => {
    const before = upstream.requests.length;
    const batch = await create(alpha, 'cancel', bigLines);
    await until(alpha, batch.id, (b) => (b.request_counts?.completed ?? 0) > 0);
    await alpha.batches.cancel(batch.id);
    const done = await until(alpha, batch.id, finished);
    assert.equal(done.status, 'cancelled');
    const completed = done.request_counts?.completed ?? 0;
    assert.ok(completed < bigLines - 20, `most lines were still unfed at the cancel: ${JSON.stringify(done.request_counts)}`);
    const ran = upstream.requests.length - before;
    assert.ok(ran >= completed && ran <= completed + 4, `only the lines fed before the cancel reached the upstream: ${ran} calls, ${completed} completed`);
    const lines = async (fileId: string | null | undefined): Promise<{ custom_id: string; error: { code: string } | null }[]> =>
      fileId ? (await (await alpha.files.content(fileId)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { custom_id: string; error: { code: string } | null }) : [];
    const [output, errors] = await Promise.all([lines(done.output_file_id), lines(done.error_file_id)]);
    assert.equal(output.length, completed);
    assert.ok(errors.every((l) => l.error?.code === 'batch_cancelled'));
    assert.equal(new Set([...output, ...errors].map((l) => l.custom_id)).size, bigLines, 'every line accounted for exactly once');
  });
});

describe('a batch whose window passes while its lines wait in the input file (kafka)', () => {
  let dir: string;
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spillway-feed-expiry-'));
    upstream = await startFakeOpenAI({ latencyMs: 200 });
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        files: { dir },
        worker: { batchConcurrency: 2 },
        batches: { maxInFlightPerTenant: 2, feedIntervalMs: 20, windowSeconds: 1 },
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
      },
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  afterEach(printLogsOnFailure(() => gateway?.logs));

  it('ends expired, with the lines never fed in the error file as batch_expired and never sent upstream', async () => {
    const file = await client.files.create({ file: await OpenAI.toFile(input('late', 40), 'late.jsonl'), purpose: 'batch' });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    let done = await client.batches.retrieve(batch.id);
    const giveUp = Date.now() + 30_000;
    while (!['completed', 'failed', 'expired', 'cancelled'].includes(done.status)) {
      if (Date.now() > giveUp) assert.fail(`batch still ${done.status}: ${JSON.stringify(done.request_counts)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      done = await client.batches.retrieve(batch.id);
    }
    assert.equal(done.status, 'expired');
    const completed = done.request_counts?.completed ?? 0;
    assert.ok(completed < 20, `most lines were unfed when the window passed: ${JSON.stringify(done.request_counts)}`);
    assert.ok(upstream.requests.length <= completed + 2, `${upstream.requests.length} upstream calls for ${completed} completed lines`);
    const errors = (await (await client.files.content(done.error_file_id ?? '')).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { custom_id: string; error: { code: string } });
    assert.ok(errors.every((l) => l.error.code === 'batch_expired'));
    assert.equal(errors.length + completed, 40, 'every line accounted for');
    assert.equal(new Set(errors.map((l) => l.custom_id)).size, errors.length);
    // Settled by the feeder without ever going to Kafka, not queued only to be dropped by a worker.
    const settled = await waitForLog(gateway.logs, { batchId: batch.id, msg: 'batch past its completion window: its lines not yet queued are recorded as never run' });
    assert.ok(typeof settled.lines === 'number' && settled.lines >= 20, `the feeder recorded the unfed lines itself: ${JSON.stringify(settled)}`);
  });
});
