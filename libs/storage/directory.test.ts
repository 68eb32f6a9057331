import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { DirectoryStorage } from './directory.ts';
import { isFileId, newFileId } from './file-id.ts';

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

async function* failingAfter(text: string): AsyncGenerator<Buffer> {
  yield Buffer.from(text);
  throw new Error('client went away');
}

describe('DirectoryStorage', () => {
  let dir: string;
  let clock: number;
  let storage: DirectoryStorage;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spillway-files-'));
    clock = 1_700_000_000_000;
    storage = new DirectoryStorage(dir, () => clock++);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('stores bytes and metadata and reads both back', async () => {
    const file = await storage.put({ filename: 'in.jsonl', purpose: 'batch' }, chunks('{"a":1}\n', '{"b":2}\n'));
    assert.ok(isFileId(file.id));
    assert.deepEqual({ ...file, id: 'x' }, { id: 'x', filename: 'in.jsonl', purpose: 'batch', bytes: 16, created_at: 1_700_000_000, created_at_ms: 1_700_000_000_000, status: 'processed' });
    assert.deepEqual(await storage.stat(file.id), file);
    const got = await storage.get(file.id);
    assert.equal((await buffer(got?.content ?? chunks())).toString(), '{"a":1}\n{"b":2}\n');
  });

  it('a source that fails midway leaves no file and no staging leftovers (atomic write)', async () => {
    await assert.rejects(storage.put({ filename: 'x', purpose: 'batch' }, failingAfter('partial')), /client went away/);
    assert.deepEqual(await readdir(dir), ['.staging']);
    assert.deepEqual(await readdir(join(dir, '.staging')), []);
    const page = await storage.list({ limit: 10, order: 'desc' });
    assert.deepEqual(page, { files: [], hasMore: false });
  });

  it('a staged file is invisible until committed, and discard drops it', async () => {
    const staged = await storage.stage(chunks('hello'));
    assert.equal(staged.bytes, 5);
    assert.deepEqual(await storage.list({ limit: 10, order: 'desc' }), { files: [], hasMore: false });
    await staged.discard();
    assert.deepEqual(await readdir(join(dir, '.staging')), []);
    await assert.rejects(staged.commit({ filename: 'x', purpose: 'batch' }), /already/);
  });

  it('deletes: the file is gone for stat, get and list, and a second delete says so', async () => {
    const file = await storage.put({ filename: 'a', purpose: 'batch' }, chunks('x'));
    assert.equal(await storage.delete(file.id), true);
    assert.equal(await storage.stat(file.id), undefined);
    assert.equal(await storage.get(file.id), undefined);
    assert.equal(await storage.delete(file.id), false);
    assert.deepEqual(await readdir(dir), ['.staging']);
  });

  it('a download opened before a delete still reads every byte', async () => {
    const file = await storage.put({ filename: 'a', purpose: 'batch' }, chunks('kept bytes'));
    const got = await storage.get(file.id);
    await storage.delete(file.id);
    assert.equal((await buffer(got?.content ?? chunks())).toString(), 'kept bytes');
  });

  it('lists newest first by default, oldest first with order asc, filters by purpose and pages with after', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await storage.put({ filename: `f${i}`, purpose: i % 2 === 0 ? 'batch' : 'user_data' }, chunks(`${i}`))).id);
    const desc = await storage.list({ limit: 10, order: 'desc' });
    assert.ok('files' in desc);
    assert.deepEqual(desc.files.map((f) => f.id), [...ids].reverse());
    const asc = await storage.list({ limit: 2, order: 'asc' });
    assert.deepEqual('files' in asc && { ids: asc.files.map((f) => f.id), more: asc.hasMore }, { ids: ids.slice(0, 2), more: true });
    const next = await storage.list({ limit: 2, order: 'asc', after: ids[1] });
    assert.deepEqual('files' in next && next.files.map((f) => f.id), ids.slice(2, 4));
    const last = await storage.list({ limit: 2, order: 'asc', after: ids[3] });
    assert.deepEqual('files' in last && { ids: last.files.map((f) => f.id), more: last.hasMore }, { ids: [ids[4]], more: false });
    const batch = await storage.list({ limit: 10, order: 'desc', purpose: 'batch' });
    assert.deepEqual('files' in batch && batch.files.map((f) => f.filename), ['f4', 'f2', 'f0']);
    assert.deepEqual(await storage.list({ limit: 10, order: 'desc', after: newFileId() }), { unknownCursor: true });
  });

  it('files created in the same millisecond still list in one stable order', async () => {
    const still = new DirectoryStorage(dir, () => 42);
    for (let i = 0; i < 4; i++) await still.put({ filename: `f${i}`, purpose: 'batch' }, chunks('x'));
    const desc = await still.list({ limit: 10, order: 'desc' });
    const asc = await still.list({ limit: 10, order: 'asc' });
    assert.ok('files' in desc && 'files' in asc);
    assert.deepEqual(desc.files.map((f) => f.id), asc.files.map((f) => f.id).reverse());
  });

  it('an id that is not a file id (path traversal) is never turned into a path', async () => {
    for (const id of ['../..', '../../etc/passwd', 'file-../x', 'file-abc/../../x', '.staging', 'file-', '']) {
      assert.equal(await storage.stat(id), undefined, id);
      assert.equal(await storage.get(id), undefined, id);
      assert.equal(await storage.delete(id), false, id);
    }
  });
});
