// The OpenAI Files API (/v1/files): upload, list, retrieve, download and delete, in OpenAI's
// shapes. Uploads are multipart and may be far larger than server.bodyLimitBytes, so this
// scope has its own multipart parser that hands the raw stream to the handler.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { DirectoryStorage } from '#libs/storage/directory.ts';
import type { FileStorage, StoredFile } from '#libs/storage/storage.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { anonymousClient, mayRead, type Client } from '#libs/http/client-auth.ts';
import { receiveUpload } from './upload.ts';

export interface FilesService {
  storage: FileStorage;
  register(app: FastifyInstance): void;
}

/** OpenAI's file object. */
export function fileObject(file: StoredFile): Record<string, unknown> {
  return { id: file.id, object: 'file', bytes: file.bytes, created_at: file.created_at, filename: file.filename, purpose: file.purpose, status: 'processed', expires_at: null };
}

const listQuerySchema = z.object({
  purpose: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(10_000),
  after: z.string().min(1).optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
});

/** After an upload is refused, what the client still sends is read and dropped up to this much, so it can read the answer; past it the connection is cut. */
const drainAfterErrorBytes = 16 * 1024 * 1024;

export function startFiles(runtime: Runtime): FilesService {
  const storage: FileStorage = new DirectoryStorage(runtime.config.files.dir);
  const { maxBytes } = runtime.config.files;
  const log = runtime.logger;

  async function create(req: FastifyRequest, reply: FastifyReply) {
    const started = Date.now();
    let file: StoredFile;
    try {
      file = await receiveUpload(req.headers['content-type'], req.raw.iterator({ destroyOnReturn: false }), storage, { maxBytes }, req.client.keyId);
    } catch (err) {
      dropRest(req.raw, drainAfterErrorBytes);
      throw err;
    }
    log.info({ fileId: file.id, purpose: file.purpose, bytes: file.bytes, ms: Date.now() - started }, 'file uploaded');
    return reply.send(fileObject(file));
  }

  async function list(req: FastifyRequest) {
    const parsed = listQuerySchema.safeParse(req.query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const param = String(issue?.path[0] ?? '');
      throw new GatewayError(400, `Invalid value for '${param}': ${issue?.message ?? 'invalid'}.`, { code: 'invalid_value', param });
    }
    const page = await storage.list({ ...parsed.data, owner: req.client === anonymousClient ? undefined : req.client.keyId });
    if ('unknownCursor' in page) throw new GatewayError(400, `Invalid value for 'after': no file with id '${parsed.data.after ?? ''}'.`, { code: 'invalid_value', param: 'after' });
    const data = page.files.map(fileObject);
    return { object: 'list', data, first_id: page.files[0]?.id ?? null, last_id: page.files.at(-1)?.id ?? null, has_more: page.hasMore };
  }

  /** The file, if this client may see it: another key's file is answered exactly as an unknown one. */
  async function ownFile(client: Client, id: string): Promise<StoredFile> {
    const file = await storage.stat(id);
    return file && mayRead(client, file.owner) ? file : notFound(id);
  }

  async function retrieve(req: FastifyRequest<{ Params: { id: string } }>) {
    return fileObject(await ownFile(req.client, req.params.id));
  }

  async function content(req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) {
    const found = (await storage.get(req.params.id)) ?? notFound(req.params.id);
    if (!mayRead(req.client, found.file.owner)) {
      found.content.destroy();
      notFound(req.params.id);
    }
    return reply.header('content-type', 'application/octet-stream').header('content-length', String(found.file.bytes)).send(found.content);
  }

  async function remove(req: FastifyRequest<{ Params: { id: string } }>) {
    await ownFile(req.client, req.params.id);
    // A batch reads its lines from its input file as it goes: the file must outlive the reading.
    const user = (await runtime.store.feedingBatches()).find((feed) => feed.batch.input_file_id === req.params.id);
    if (user) {
      throw new GatewayError(409, `The file ${req.params.id} is the input of batch ${user.batch.id}, which is still queuing its requests. Delete it once the batch has finished, or cancel the batch first.`, {
        code: 'file_in_use',
        param: 'file_id',
      });
    }
    if (!(await storage.delete(req.params.id))) notFound(req.params.id);
    log.info({ fileId: req.params.id }, 'file deleted');
    return { id: req.params.id, object: 'file', deleted: true };
  }

  return {
    storage,
    register(app) {
      void app.register(async (scope) => {
        // The handler reads the body itself, as a stream; neither the JSON parser nor the
        // server-wide body limit apply to it.
        scope.addContentTypeParser('multipart/form-data', (_req, _payload, done) => done(null, undefined));
        scope.post('/v1/files', create);
        scope.get('/v1/files', list);
        scope.get('/v1/files/:id', retrieve);
        scope.get('/v1/files/:id/content', content);
        scope.delete('/v1/files/:id', remove);
      });
    },
  };
}

function notFound(id: string): never {
  throw new GatewayError(404, `No such File object: ${id}`, { code: 'file_not_found', param: 'id' });
}

/** Reads and drops what is left of a refused upload, so the client can finish sending and read the answer. */
function dropRest(raw: IncomingMessage, maxBytes: number): void {
  if (raw.readableEnded || raw.destroyed) return;
  let dropped = 0;
  raw.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxBytes) raw.destroy();
  });
  raw.resume();
}
