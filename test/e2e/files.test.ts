// The Files API end to end with the official openai SDK, on real Kafka and Redis: upload,
// retrieve, list with auto-pagination, download, delete; and the refusals in OpenAI's shape.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

const maxBytes = 64 * 1024;

function batchLines(n: number, from = 0): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ custom_id: `r${from + i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'mock/m', messages: [{ role: 'user', content: 'hi' }] } })).join('\n') + '\n';
}

describe('the Files API (kafka)', () => {
  let dir: string;
  let gateway: TestGateway;
  let client: OpenAI;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spillway-files-e2e-'));
    gateway = await startTestGateway({ mode: 'kafka', config: { server: { bodyLimitBytes: 16 * 1024 }, files: { dir, maxBytes }, providers: { mock: { type: 'mock' } } } });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
  });

  after(async () => {
    await gateway?.close(1_000);
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads a batch file, retrieves it, downloads the same bytes, deletes it, and then it is a 404', async () => {
    const content = batchLines(3);
    const created = await client.files.create({ file: await OpenAI.toFile(Buffer.from(content), 'input.jsonl'), purpose: 'batch' });
    assert.match(created.id, /^file-[A-Za-z0-9]{24}$/);
    assert.deepEqual({ ...created, id: 'x', created_at: 0 }, { id: 'x', object: 'file', bytes: Buffer.byteLength(content), created_at: 0, filename: 'input.jsonl', purpose: 'batch', status: 'processed', expires_at: null });
    assert.ok(Math.abs(created.created_at - Date.now() / 1000) < 60);

    assert.deepEqual(await client.files.retrieve(created.id), created);
    const download = await client.files.content(created.id);
    assert.equal(Buffer.from(await download.arrayBuffer()).toString(), content);

    assert.deepEqual(await client.files.delete(created.id), { id: created.id, object: 'file', deleted: true });
    const err = await client.files.retrieve(created.id).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.NotFoundError);
    assert.deepEqual(err.error, { message: `No such File object: ${created.id}`, type: 'invalid_request_error', param: 'id', code: 'file_not_found' });
    await assert.rejects(client.files.content(created.id), OpenAI.NotFoundError);
    await assert.rejects(client.files.delete(created.id), OpenAI.NotFoundError);
  });

  it('takes the purpose before or after the file in the form, and user_data files of any bytes', async () => {
    const form = new FormData();
    form.append('purpose', 'user_data');
    form.append('file', new File([Buffer.from([0, 1, 2, 255])], 'blob.bin'));
    const res = await fetch(`${gateway.url}/v1/files`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    const file = (await res.json()) as { purpose: string; bytes: number };
    assert.deepEqual([file.purpose, file.bytes], ['user_data', 4]);
  });

  it('lists newest first and pages with limit and after through the SDK auto-pagination', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await client.files.create({ file: await OpenAI.toFile(Buffer.from(batchLines(1, i)), `page-${i}.jsonl`), purpose: 'batch' })).id);
    const first = await client.files.list({ limit: 2, purpose: 'batch' });
    assert.deepEqual(first.data.map((f) => f.id), [ids[4], ids[3]]);
    assert.equal(first.has_more, true);
    const seen: string[] = [];
    for await (const file of client.files.list({ limit: 2, purpose: 'batch' })) seen.push(file.id);
    assert.deepEqual(seen.slice(0, 5), [...ids].reverse());

    const raw = (await (await fetch(`${gateway.url}/v1/files?limit=2&order=asc&purpose=batch&after=${ids[0]}`)).json()) as Record<string, unknown>;
    assert.deepEqual(raw, { object: 'list', data: raw.data, first_id: ids[1], last_id: ids[2], has_more: true });
    const bad = await fetch(`${gateway.url}/v1/files?limit=0`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { param: string } }).error.param, 'limit');
  });

  it('refuses a purpose it does not take with a 400 that lists the accepted ones', async () => {
    const err = await client.files.create({ file: await OpenAI.toFile(Buffer.from(batchLines(1)), 'x.jsonl'), purpose: 'fine-tune' }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.equal(err.status, 400);
    assert.deepEqual({ ...err.error as object, message: undefined }, { message: undefined, type: 'invalid_request_error', param: 'purpose', code: 'invalid_value' });
    assert.match(err.message, /'batch', 'user_data'/);
    const form = new FormData();
    form.append('purpose', 'batch');
    const missing = await fetch(`${gateway.url}/v1/files`, { method: 'POST', body: form });
    assert.equal(missing.status, 400);
    assert.equal(((await missing.json()) as { error: { param: string } }).error.param, 'file');
  });

  it('refuses a batch file whose line 3 is not JSON, naming line 3, and keeps nothing of it', async () => {
    const content = `${batchLines(2)}{"custom_id": "r2", "method": "POST",\n${batchLines(2, 3)}`;
    const before = await readdir(dir);
    const err = await client.files.create({ file: await OpenAI.toFile(Buffer.from(content), 'broken.jsonl'), purpose: 'batch' }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.BadRequestError);
    assert.match(err.message, /line 3 is not valid JSON/);
    assert.deepEqual({ param: err.param, code: err.code }, { param: 'file', code: 'invalid_file' });
    assert.deepEqual((await readdir(dir)).sort(), before.sort());
    assert.deepEqual(await readdir(join(dir, '.staging')), []);
    // The SDK sends the file before the purpose; with the purpose first, the refusal comes while the file streams.
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new File([content], 'broken.jsonl'));
    const res = await fetch(`${gateway.url}/v1/files`, { method: 'POST', body: form });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /line 3 is not valid JSON/);
  });

  it('answers 413 in OpenAI shape for a file over files.maxBytes, even one much larger, and stays usable', async () => {
    for (const size of [maxBytes + 1, 4 * 1024 * 1024]) {
      const err = await client.files.create({ file: await OpenAI.toFile(Buffer.alloc(size, 'a'), 'big.bin'), purpose: 'user_data' }).catch((e: unknown) => e);
      assert.ok(err instanceof OpenAI.APIError, String(err));
      assert.equal(err.status, 413);
      assert.deepEqual({ type: err.type, param: err.param, code: err.code }, { type: 'invalid_request_error', param: 'file', code: 'file_too_large' });
      assert.match(err.message, new RegExp(`limit of ${maxBytes} bytes`));
    }
    assert.deepEqual(await readdir(join(dir, '.staging')), []);
    // Four times server.bodyLimitBytes (16 KiB here), which does not apply to uploads.
    const ok = await client.files.create({ file: await OpenAI.toFile(Buffer.alloc(maxBytes, 'b'), 'exact.bin'), purpose: 'user_data' });
    assert.equal(ok.bytes, maxBytes);
  });

  it('answers 404 for a path-traversal id and never reads outside the directory', async () => {
    for (const path of ['/v1/files/..%2F..', '/v1/files/..%2F..%2Fpackage.json/content', '/v1/files/%2E%2E', '/v1/files/file-..%2F..%2Fx/content']) {
      const res = await fetch(gateway.url + path);
      assert.equal(res.status, 404, path);
      const body = (await res.json()) as { error: { type: string } };
      assert.equal(body.error.type, 'invalid_request_error', path);
    }
    const del = await fetch(`${gateway.url}/v1/files/..%2F..`, { method: 'DELETE' });
    assert.equal(del.status, 404);
  });

  it('refuses a JSON body with 415 and a multipart body without a boundary with 400', async () => {
    const json = await fetch(`${gateway.url}/v1/files`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"purpose":"batch"}' });
    assert.equal(json.status, 415);
    const noBoundary = await fetch(`${gateway.url}/v1/files`, { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'x' });
    assert.equal(noBoundary.status, 400);
    assert.equal(((await noBoundary.json()) as { error: { code: string } }).error.code, 'invalid_multipart');
  });
});
