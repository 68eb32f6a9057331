// The Batch API end to end with the official openai SDK, on real Kafka and Redis: upload an
// input file, create the batch, wait for it to finish, download the output and error files;
// a bad input line fails the whole batch; a cancel part-way stops what has not started. The
// embedded mode (in-memory bus and store) runs the same tests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { modes, startTestGateway, type TestGateway } from '#test/support/gateway.ts';

interface OutputLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

const chatLine = (customId: string, model: string, content: string): string =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/chat/completions', body: { model, messages: [{ role: 'user', content }] } });

for (const mode of modes) describe(`the Batch API (${mode})`, () => {
  let dir: string;
  let upstream: FakeOpenAI;
  let broken: FakeOpenAI;
  let slow: FakeOpenAI;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spillway-batches-e2e-'));
    upstream = await startFakeOpenAI();
    broken = await startFakeOpenAI();
    broken.setDefault({ kind: 'status', status: 400 });
    slow = await startFakeOpenAI({ latencyMs: 300 });
    const provider = (url: string) => ({ type: 'openai', baseUrl: url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini', 'text-embedding-3-small'] });
    gateway = await startTestGateway({
      mode,
      config: { files: { dir }, worker: { batchConcurrency: 2 }, providers: { openai: provider(upstream.url), broken: provider(broken.url), slow: provider(slow.url) } },
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await Promise.all([upstream?.close(), broken?.close(), slow?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  async function upload(lines: string[]): Promise<string> {
    return (await client.files.create({ file: await OpenAI.toFile(Buffer.from(lines.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' })).id;
  }

  /** Polls as a client would, until the batch reaches a final status. */
  async function settled(id: string, timeoutMs = 20_000): Promise<Batch> {
    const giveUp = Date.now() + timeoutMs;
    for (;;) {
      const batch = await client.batches.retrieve(id);
      if (['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) return batch;
      if (Date.now() > giveUp) assert.fail(`batch ${id} still ${batch.status} after ${timeoutMs} ms: ${JSON.stringify(batch.request_counts)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function lines(fileId: string | null | undefined): Promise<OutputLine[]> {
    assert.ok(fileId, 'the batch has the file');
    const file = await client.files.retrieve(fileId);
    assert.equal(file.purpose, 'batch_output');
    const text = await (await client.files.content(fileId)).text();
    return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as OutputLine);
  }

  it('runs every line once and writes the answers to the output file, the one upstream failure to the error file', async () => {
    const input = Array.from({ length: 6 }, (_, i) => chatLine(`ok-${i}`, 'openai/gpt-4o-mini', `line ${i}`));
    input.push(chatLine('bad-upstream', 'broken/gpt-4o-mini', 'fails'));
    const inputFileId = await upload(input);
    const created = await client.batches.create({ input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { job: 'nightly' } });
    assert.match(created.id, /^batch_/);
    assert.equal(created.object, 'batch');
    assert.equal(created.status, 'in_progress');
    assert.deepEqual(created.request_counts, { total: 7, completed: 0, failed: 0 });
    assert.deepEqual(created.metadata, { job: 'nightly' });
    assert.equal(created.expires_at, created.created_at + 24 * 3600);

    const done = await settled(created.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.request_counts, { total: 7, completed: 6, failed: 1 });
    assert.ok(done.completed_at !== null && done.in_progress_at !== null && done.finalizing_at !== null);

    const output = await lines(done.output_file_id);
    assert.deepEqual(output.map((l) => l.custom_id).sort(), ['ok-0', 'ok-1', 'ok-2', 'ok-3', 'ok-4', 'ok-5']);
    for (const line of output) {
      assert.equal(line.error, null);
      assert.equal(line.response?.status_code, 200);
      assert.match(line.response?.request_id ?? '', /^req_/);
      const body = line.response?.body as { object: string; choices: { message: { content: string } }[] };
      assert.equal(body.object, 'chat.completion');
      assert.equal(body.choices[0].message.content, `Echo: line ${line.custom_id.slice(3)}`);
    }
    const errors = await lines(done.error_file_id);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].custom_id, 'bad-upstream');
    assert.equal(errors[0].response?.status_code, 400);
    assert.ok(errors[0].error?.message);
    assert.equal(upstream.requests.length, 6);
  });

  it('runs an embeddings batch, and has no error file when nothing failed', async () => {
    const inputFileId = await upload(['a', 'b'].map((word) => JSON.stringify({ custom_id: word, method: 'POST', url: '/v1/embeddings', body: { model: 'openai/text-embedding-3-small', input: word } })));
    const done = await settled((await client.batches.create({ input_file_id: inputFileId, endpoint: '/v1/embeddings', completion_window: '24h' })).id);
    assert.equal(done.status, 'completed');
    assert.equal(done.error_file_id, null);
    const output = await lines(done.output_file_id);
    assert.deepEqual(output.map((l) => [l.custom_id, (l.response?.body as { object: string }).object]).sort(), [['a', 'list'], ['b', 'list']]);
  });

  it('counts a redelivered result once: per custom_id while running, and not at all once the batch is final', async () => {
    const store = gateway.runtime.store;
    const created = await client.batches.create({ input_file_id: await upload([chatLine('only', 'openai/gpt-4o-mini', 'once')]), endpoint: '/v1/chat/completions', completion_window: '24h' });
    const done = await settled(created.id);
    assert.deepEqual(done.request_counts, { total: 1, completed: 1, failed: 0 });
    const [line] = await lines(done.output_file_id);
    const now = Date.now();
    const again = { v: 1, id: line.response?.request_id, status: 'succeeded', httpStatus: 200, response: line.response?.body, attempts: [], acceptedAt: now, completedAt: now, batch: { id: created.id, customId: 'only' } };
    await gateway.runtime.bus.produce(gateway.runtime.topics.results, [{ key: String(again.id), value: JSON.stringify(again) }]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await client.batches.retrieve(created.id), done);

    const stored = await store.getBatch(created.id);
    assert.ok(stored);
    // Not in_progress, so the feeder leaves it alone: only the store's counting is under test here.
    const running = { ...stored, id: `batch_dup${now}`, status: 'validating' as const, request_counts: { total: 2, completed: 0, failed: 0 } };
    await store.createBatch(running, { tenant: 'default' });
    const outcome = { customId: 'x', kind: 'completed' as const, file: 'output' as const, line: '{}' };
    assert.equal(await store.recordBatchLine(running.id, outcome), 1);
    assert.equal(await store.recordBatchLine(running.id, outcome), 1);
    assert.deepEqual((await store.getBatch(running.id))?.request_counts, { total: 2, completed: 1, failed: 0 });
    assert.deepEqual(await store.batchLines(running.id), { output: ['{}'], errors: [] });
  });

  it('fails the whole batch when line 2 is bad, naming the line, and runs nothing', async () => {
    const before = upstream.requests.length;
    const inputFileId = await upload([chatLine('one', 'openai/gpt-4o-mini', 'x'), JSON.stringify({ custom_id: 'two', method: 'POST', url: '/v1/embeddings', body: {} }), chatLine('three', 'openai/gpt-4o-mini', 'y')]);
    const created = await client.batches.create({ input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h' });
    assert.equal(created.status, 'failed');
    const retrieved = await client.batches.retrieve(created.id);
    assert.equal(retrieved.status, 'failed');
    assert.ok(retrieved.failed_at !== null);
    assert.equal(retrieved.errors?.data?.[0]?.line, 2);
    assert.equal(retrieved.errors?.data?.[0]?.param, 'url');
    assert.equal(retrieved.errors?.data?.length, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(upstream.requests.length, before);
  });

  it('refuses an unknown input file and an unknown batch with 404', async () => {
    await assert.rejects(client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }), OpenAI.NotFoundError);
    await assert.rejects(client.batches.retrieve('batch_nope'), OpenAI.NotFoundError);
    await assert.rejects(client.batches.cancel('batch_nope'), OpenAI.NotFoundError);
  });

  it('cancels part-way: requests not started are skipped, the batch ends cancelled with the output so far', async () => {
    const total = 20;
    const inputFileId = await upload(Array.from({ length: total }, (_, i) => chatLine(`slow-${i}`, 'slow/gpt-4o-mini', `slow ${i}`)));
    const created = await client.batches.create({ input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await slow.waitForRequests(1);
    const cancelling = await client.batches.cancel(created.id);
    assert.equal(cancelling.status, 'cancelling');
    assert.ok(cancelling.cancelling_at !== null);

    const done = await settled(created.id);
    assert.equal(done.status, 'cancelled');
    assert.ok(done.cancelled_at !== null);
    assert.equal(done.request_counts?.total, total);
    assert.ok((done.request_counts?.completed ?? total) < total, `completed ${done.request_counts?.completed} of ${total}`);
    assert.ok(slow.requests.length < total, `upstream got ${slow.requests.length} calls for ${total} lines`);
    const output = await lines(done.output_file_id);
    assert.equal(output.length, done.request_counts?.completed);
    const skipped = await lines(done.error_file_id);
    assert.equal(output.length + skipped.length, total);
    assert.ok(skipped.every((l) => l.error?.code === 'batch_cancelled' && l.response === null));
    assert.equal((await client.batches.cancel(created.id)).status, 'cancelled');
  });

  it('lists batches newest first, paging with limit and after', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const inputFileId = await upload([chatLine(`p${i}`, 'openai/gpt-4o-mini', 'page')]);
      ids.push((await client.batches.create({ input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    }
    const first = await client.batches.list({ limit: 2 });
    assert.deepEqual(first.data.map((b) => b.id), [ids[2], ids[1]]);
    assert.equal(first.has_more, true);
    const seen: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) seen.push(batch.id);
    assert.deepEqual(seen.slice(0, 3), [...ids].reverse());
    assert.ok(seen.length >= 6);
    const raw = (await (await fetch(`${gateway.url}/v1/batches?limit=1&after=${ids[2]}`)).json()) as Record<string, unknown>;
    assert.deepEqual({ ...raw, data: null }, { object: 'list', data: null, first_id: ids[1], last_id: ids[1], has_more: true });
    assert.equal((await fetch(`${gateway.url}/v1/batches?after=batch_unknown`)).status, 400);
  });

  // Last: it forgets the batches the tests above created.
  it('forgets finished batches past their retention, and never one still running', async () => {
    const done = await settled((await client.batches.create({ input_file_id: await upload([chatLine('kept', 'openai/gpt-4o-mini', 'x')]), endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    const running = await client.batches.create({ input_file_id: await upload([chatLine('slow', 'slow/gpt-4o-mini', 'x')]), endpoint: '/v1/chat/completions', completion_window: '24h' });
    // As the sweeper does once batches.retentionDays have passed since both were created.
    assert.ok((await gateway.runtime.store.pruneBatches(Math.floor(Date.now() / 1000) + 1)) >= 1);
    await assert.rejects(client.batches.retrieve(done.id), (err: unknown) => err instanceof OpenAI.NotFoundError);
    const listed = [];
    for await (const batch of client.batches.list({ limit: 100 })) listed.push(batch.id);
    assert.ok(!listed.includes(done.id), 'gone from the list too');
    assert.ok(listed.includes(running.id), 'the running batch is kept');
    assert.equal((await settled(running.id)).status, 'completed');
    assert.equal((await client.files.retrieve(done.output_file_id ?? '')).purpose, 'batch_output', 'its files stay');
  });
});

describe('batch expiry (kafka)', () => {
  let dir: string;
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spillway-batch-expiry-'));
    upstream = await startFakeOpenAI();
    // No worker: the lines are queued and never run, so no result ever comes back for them.
    gateway = await startTestGateway({
      mode: 'kafka',
      roles: ['ingest', 'results'],
      config: {
        files: { dir },
        batches: { windowSeconds: 1, expiryGraceSeconds: 0, sweepIntervalMs: 100 },
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

  it('batch_waiting_on_lost_results_stays_in_progress: past its window it ends expired, every missing line in the error file', async () => {
    const input = ['a', 'b', 'c'].map((id) => chatLine(id, 'openai/gpt-4o-mini', `line ${id}`));
    const file = await client.files.create({ file: await OpenAI.toFile(Buffer.from(input.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    const giveUp = Date.now() + 15_000;
    let batch = created;
    while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status) && Date.now() < giveUp) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      batch = await client.batches.retrieve(created.id);
    }
    assert.equal(batch.status, 'expired');
    assert.ok(batch.expired_at);
    assert.deepEqual(batch.request_counts, { total: 3, completed: 0, failed: 0 });
    assert.ok(batch.error_file_id);
    const errors = (await (await client.files.content(batch.error_file_id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as OutputLine);
    assert.deepEqual(errors.map((l) => l.custom_id).sort(), ['a', 'b', 'c']);
    assert.ok(errors.every((l) => l.error?.code === 'batch_expired' && l.response === null));
    assert.equal(upstream.requests.length, 0);
  });
});
