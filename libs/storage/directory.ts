// File storage in a directory (a shared volume when several nodes run). Each file is two
// entries, `<id>.content` and `<id>.json`; the metadata is written last, by rename, so a file
// exists exactly when its `.json` does, and a half-written upload is never visible. Bytes are
// staged under `.staging/` in the same directory so the rename never crosses a filesystem.
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { isFileId, newFileId } from './file-id.ts';
import { storedFileSchema, type FileStorage, type ListPage, type ListQuery, type NewFile, type StagedFile, type StoredFile } from './storage.ts';

export class DirectoryStorage implements FileStorage {
  private readonly dir: string;
  private readonly staging: string;
  private readonly now: () => number;
  private prepared: Promise<void> | undefined;

  constructor(dir: string, now: () => number = Date.now) {
    this.dir = dir;
    this.staging = join(dir, '.staging');
    this.now = now;
  }

  async put(file: NewFile, content: AsyncIterable<Uint8Array>): Promise<StoredFile> {
    const staged = await this.stage(content);
    return staged.commit(file);
  }

  async stage(content: AsyncIterable<Uint8Array>): Promise<StagedFile> {
    await this.prepare();
    const temp = join(this.staging, `${randomBytes(12).toString('hex')}.part`);
    let bytes = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of content) {
        bytes += chunk.byteLength;
        yield chunk;
      }
    }
    try {
      await pipeline(counted(), createWriteStream(temp, { flags: 'wx', flush: true }));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    let settled = false;
    return {
      bytes,
      commit: async (file) => {
        if (settled) throw new Error('staged file already committed or discarded');
        settled = true;
        return this.commit(temp, bytes, file);
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await rm(temp, { force: true });
      },
    };
  }

  async stat(id: string): Promise<StoredFile | undefined> {
    if (!isFileId(id)) return undefined;
    return this.readMeta(this.metaPath(id));
  }

  async get(id: string, start = 0): Promise<{ file: StoredFile; content: Readable } | undefined> {
    if (!isFileId(id)) return undefined;
    // Open the bytes before reading the metadata: an open file survives a delete, and a file
    // whose metadata is gone counts as deleted.
    const handle = await open(this.contentPath(id), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!handle) return undefined;
    const file = await this.readMeta(this.metaPath(id)).catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
    if (!file) {
      await handle.close();
      return undefined;
    }
    return { file, content: handle.createReadStream({ start }) };
  }

  async delete(id: string): Promise<boolean> {
    if (!isFileId(id)) return false;
    try {
      await rm(this.metaPath(id));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await rm(this.contentPath(id), { force: true });
    return true;
  }

  async list(query: ListQuery): Promise<ListPage> {
    await this.prepare();
    const names = (await readdir(this.dir)).filter((name) => name.endsWith('.json') && isFileId(name.slice(0, -'.json'.length)));
    const all = (await Promise.all(names.map((name) => this.readMeta(join(this.dir, name))))).filter(
      (f): f is StoredFile => f !== undefined && (query.owner === undefined || f.owner === query.owner),
    );
    // A total order (time, then id), so paging with `after` never skips or repeats a file.
    all.sort((a, b) => a.created_at_ms - b.created_at_ms || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (query.order === 'desc') all.reverse();
    let start = 0;
    if (query.after !== undefined) {
      const at = all.findIndex((f) => f.id === query.after);
      if (at < 0) return { unknownCursor: true };
      start = at + 1;
    }
    const matching = all.slice(start).filter((f) => query.purpose === undefined || f.purpose === query.purpose);
    return { files: matching.slice(0, query.limit), hasMore: matching.length > query.limit };
  }

  private async commit(temp: string, bytes: number, file: NewFile): Promise<StoredFile> {
    const createdAtMs = this.now();
    const stored: StoredFile = {
      id: newFileId(),
      filename: file.filename,
      purpose: file.purpose,
      bytes,
      created_at: Math.floor(createdAtMs / 1000),
      created_at_ms: createdAtMs,
      status: 'processed',
      ...(file.owner !== undefined ? { owner: file.owner } : {}),
    };
    const metaTemp = join(this.staging, `${stored.id}.json.part`);
    try {
      await rename(temp, this.contentPath(stored.id));
      await writeFile(metaTemp, JSON.stringify(stored), { flag: 'wx', flush: true });
      await rename(metaTemp, this.metaPath(stored.id));
    } catch (err) {
      await Promise.all([rm(temp, { force: true }), rm(metaTemp, { force: true }), rm(this.contentPath(stored.id), { force: true })]);
      throw err;
    }
    await syncDirectory(this.dir);
    return stored;
  }

  private async readMeta(path: string): Promise<StoredFile | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      // Deleted between listing and reading.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const parsed = storedFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${path}: not a file's metadata: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return parsed.data;
  }

  private prepare(): Promise<void> {
    this.prepared ??= mkdir(this.staging, { recursive: true }).then(
      () => undefined,
      (err: unknown) => {
        this.prepared = undefined;
        throw err;
      },
    );
    return this.prepared;
  }

  private contentPath(id: string): string {
    return join(this.dir, `${checked(id)}.content`);
  }

  private metaPath(id: string): string {
    return join(this.dir, `${checked(id)}.json`);
  }
}

function checked(id: string): string {
  if (!isFileId(id)) throw new Error(`not a file id: ${JSON.stringify(id)}`);
  return id;
}

/** Makes the renames themselves durable; some filesystems (network volumes) cannot, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // EINVAL / EISDIR where directories cannot be synced.
  } finally {
    await handle.close();
  }
}
