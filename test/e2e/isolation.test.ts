// Tenant isolation: with client keys, a key reads only the requests, results, streams, batches
// and files it created; another key's are answered exactly as unknown ones (404), on every
// surface — GET /v1/requests/{id}, its resumable stream, the WebSocket subscribe frame, the
// Files and Batch APIs — whether the request is finished, running or still queued. An
// Idempotency-Key is the key's own. With no client keys the API stays open: everything is
// readable by every caller, as before. Real Kafka and Redis, and the embedded mode.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { modes, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { RealtimeClient, type Frame } from '#test/support/realtime-client.ts';

const keyA = 'sk-spillway-iso-team-a-0123456789';
const keyB = 'sk-spillway-iso-team-b-9876543210';
// One tenant, two keys: isolation is by key, not only by tenant.
const clientKeys = [
  { id: 'team-a', key: keyA, tenant: 'shared' },
  { id: 'team-b', key: keyB, tenant: 'shared' },
];
const unknownRequestId = 'req_0000000000000000000000000000';

interface ErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

const chatBody = (content: string): Record<string, unknown> => ({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] });

function provider(url: string): Record<string, unknown> {
  return { openai: { type: 'openai', baseUrl: url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } };
}

function api(gateway: TestGateway, key: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${key}`);
  if (init.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(`${gateway.url}${path}`, { ...init, headers });
}

/** The 404 a caller gets, checked to be the one an unknown id of the same kind gets. */
async function assertSameAsUnknown(res: Response, unknown: Response, id: string, unknownId: string): Promise<void> {
  assert.equal(res.status, 404);
  assert.equal(unknown.status, 404);
  const [body, expected] = (await Promise.all([res.json(), unknown.json()])) as [ErrorBody, ErrorBody];
  assert.deepEqual({ ...body.error, message: body.error.message.replaceAll(id, '<id>') }, { ...expected.error, message: expected.error.message.replaceAll(unknownId, '<id>') });
}

/** Sends a subscribe frame and resolves with the first frame about that request. */
async function subscribe(socket: RealtimeClient, id: string, match: (f: Frame) => boolean = () => true): Promise<Frame> {
  await socket.opened();
  const answer = socket.next((f) => f.id === id && match(f));
  socket.send({ type: 'subscribe', id, after: 0 });
  return answer;
}

function connect(gateway: TestGateway, key: string): RealtimeClient {
  return new RealtimeClient(`${gateway.url.replace(/^http/, 'ws')}/v1/realtime`, { headers: { authorization: `Bearer ${key}` } });
}

/** B's subscribe to `id` gets the very frame an unknown id gets. */
async function assertSubscribeRefused(gateway: TestGateway, key: string, id: string): Promise<void> {
  const socket = connect(gateway, key);
  try {
    const [frame, unknown] = await Promise.all([subscribe(socket, id), subscribe(socket, unknownRequestId)]);
    assert.equal(frame.type, 'error');
    assert.equal(frame.status, 404);
    assert.equal(frame.error?.code, 'request_not_found');
    assert.deepEqual({ ...frame, id: '<id>', error: { ...frame.error, message: frame.error?.message.replaceAll(id, '<id>') } }, {
      ...unknown,
      id: '<id>',
      error: { ...unknown.error, message: unknown.error?.message.replaceAll(unknownRequestId, '<id>') },
    });
  } finally {
    socket.ws.close();
  }
}

/** Reads the first SSE event of a response, then lets it go. */
async function firstEvent(res: Response): Promise<string> {
  assert.ok(res.body);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      assert.ok(!done, 'the stream ended before its first event');
      buffer += decoder.decode(value, { stream: true });
      const at = buffer.indexOf('\n\n');
      if (at >= 0) return buffer.slice(0, at);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

async function uploadAs(gateway: TestGateway, key: string, lines: string[]): Promise<string> {
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 });
  return (await client.files.create({ file: await OpenAI.toFile(Buffer.from(lines.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' })).id;
}

const batchLine = (customId: string): string => JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/chat/completions', body: chatBody(customId) });

for (const mode of modes) {
  describe(`tenant isolation between client keys (${mode})`, () => {
    let dir: string;
    let upstream: FakeOpenAI;
    let gateway: TestGateway;
    let a: OpenAI;
    let b: OpenAI;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'spillway-isolation-'));
      upstream = await startFakeOpenAI();
      gateway = await startTestGateway({ mode, config: { files: { dir }, auth: { keys: clientKeys }, providers: provider(upstream.url) } });
      a = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: keyA, maxRetries: 0 });
      b = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: keyB, maxRetries: 0 });
    });

    after(async () => {
      await gateway?.close(1_000);
      await upstream?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it("answers another key's finished request, its stream and a WebSocket subscribe to it as unknown; its own key still reads them", async () => {
      const res = await api(gateway, keyA, '/v1/chat/completions', { method: 'POST', body: JSON.stringify(chatBody('mine alone')) });
      assert.equal(res.status, 200);
      const id = res.headers.get('x-request-id');
      assert.ok(id);

      await assertSameAsUnknown(await api(gateway, keyB, `/v1/requests/${id}`), await api(gateway, keyB, `/v1/requests/${unknownRequestId}`), id, unknownRequestId);
      await assertSameAsUnknown(await api(gateway, keyB, `/v1/requests/${id}/stream`), await api(gateway, keyB, `/v1/requests/${unknownRequestId}/stream`), id, unknownRequestId);
      await assertSubscribeRefused(gateway, keyB, id);

      const own = await api(gateway, keyA, `/v1/requests/${id}`);
      assert.equal(own.status, 200);
      assert.equal(((await own.json()) as { status: string }).status, 'completed');
      const stream = await api(gateway, keyA, `/v1/requests/${id}/stream`);
      assert.equal(stream.status, 200);
      assert.match(await firstEvent(stream), /mine alone/);
      const socket = connect(gateway, keyA);
      try {
        assert.equal((await subscribe(socket, id)).type, 'done');
      } finally {
        socket.ws.close();
      }
    });

    it("answers another key's running request as unknown on every surface, while its own key follows it", async () => {
      upstream.enqueue({ kind: 'stall', afterChunks: 1 });
      const abort = new AbortController();
      const posted = await api(gateway, keyA, '/v1/chat/completions', {
        method: 'POST',
        headers: { 'x-spillway-timeout-ms': '3000' },
        body: JSON.stringify({ ...chatBody('still thinking about it'), stream: true }),
        signal: abort.signal,
      });
      try {
        assert.equal(posted.status, 200);
        const id = posted.headers.get('x-request-id');
        assert.ok(id);
        // Its first chunk arrived: a worker has begun it, and it is running.
        await firstEvent(posted);

        await assertSameAsUnknown(await api(gateway, keyB, `/v1/requests/${id}`), await api(gateway, keyB, `/v1/requests/${unknownRequestId}`), id, unknownRequestId);
        await assertSameAsUnknown(await api(gateway, keyB, `/v1/requests/${id}/stream`), await api(gateway, keyB, `/v1/requests/${unknownRequestId}/stream`), id, unknownRequestId);
        await assertSubscribeRefused(gateway, keyB, id);

        const own = await api(gateway, keyA, `/v1/requests/${id}`);
        assert.equal(((await own.json()) as { status: string }).status, 'in_progress');
        const stream = await api(gateway, keyA, `/v1/requests/${id}/stream`);
        assert.equal(stream.status, 200);
        assert.match(await firstEvent(stream), /^id: 1\n/);
        const socket = connect(gateway, keyA);
        try {
          assert.equal((await subscribe(socket, id, (f) => f.type === 'chunk')).type, 'chunk');
        } finally {
          socket.ws.close();
        }
      } finally {
        abort.abort();
      }
    });

    it("starts a new request for another key's reuse of an Idempotency-Key, never answering from the first key's", async () => {
      const headers = { 'idempotency-key': 'iso-same-key' };
      const first = await api(gateway, keyA, '/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(chatBody('once per key')) });
      const again = await api(gateway, keyA, '/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(chatBody('once per key')) });
      const other = await api(gateway, keyB, '/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(chatBody('once per key')) });
      assert.deepEqual([first.status, again.status, other.status], [200, 200, 200]);
      const [idA, idAgain, idB] = [first, again, other].map((r) => r.headers.get('x-request-id'));
      assert.ok(idA && idB);
      assert.equal(idAgain, idA, 'the same key retrying gets its own request');
      assert.notEqual(idB, idA, "another key never attaches to the first key's request");
      assert.equal((await api(gateway, keyB, `/v1/requests/${idA}`)).status, 404);
      assert.equal((await api(gateway, keyB, `/v1/requests/${idB}`)).status, 200);
    });

    it("hides a key's files from another key: retrieve, content and delete are 404, the list leaves them out", async () => {
      const fileId = await uploadAs(gateway, keyA, [batchLine('file-1')]);
      const notFound = async (promise: Promise<unknown>): Promise<void> => {
        await assert.rejects(promise, (err: unknown) => err instanceof OpenAI.NotFoundError && (err.error as { code?: string }).code === 'file_not_found');
      };
      await notFound(b.files.retrieve(fileId));
      await notFound(b.files.content(fileId));
      await notFound(b.files.delete(fileId));
      const ownB = await uploadAs(gateway, keyB, [batchLine('file-b')]);
      const listedB: string[] = [];
      for await (const file of b.files.list({ limit: 1 })) listedB.push(file.id);
      assert.deepEqual(listedB, [ownB]);
      assert.equal((await api(gateway, keyB, `/v1/files?after=${fileId}`)).status, 400, "another key's file is no cursor either");

      assert.equal((await a.files.retrieve(fileId)).id, fileId);
      assert.match(await (await a.files.content(fileId)).text(), /file-1/);
      const listedA: string[] = [];
      for await (const file of a.files.list({ limit: 1 })) listedA.push(file.id);
      assert.ok(listedA.includes(fileId) && !listedA.includes(ownB));
      assert.equal((await a.files.delete(fileId)).deleted, true);
    });

    it("hides a key's batches from another key, and its input file from another key's batch; the batch's output file is its key's", async () => {
      const inputId = await uploadAs(gateway, keyA, [batchLine('one'), batchLine('two')]);
      await assert.rejects(b.batches.create({ input_file_id: inputId, endpoint: '/v1/chat/completions', completion_window: '24h' }), (err: unknown) => {
        return err instanceof OpenAI.NotFoundError && (err.error as { code?: string }).code === 'file_not_found';
      });
      const mine = await Promise.all([0, 1, 2].map(async () => (await a.batches.create({ input_file_id: inputId, endpoint: '/v1/chat/completions', completion_window: '24h' })).id));
      const theirs = (await b.batches.create({ input_file_id: await uploadAs(gateway, keyB, [batchLine('b')]), endpoint: '/v1/chat/completions', completion_window: '24h' })).id;
      const target = mine[0] ?? assert.fail('no batch');

      const batchNotFound = (err: unknown): boolean => err instanceof OpenAI.NotFoundError && (err.error as { code?: string }).code === 'batch_not_found';
      await assert.rejects(b.batches.retrieve(target), batchNotFound);
      await assert.rejects(b.batches.cancel(target), batchNotFound);

      // Paged one at a time, each key sees exactly its own batches, newest first.
      const listed = async (client: OpenAI): Promise<string[]> => {
        const ids: string[] = [];
        for await (const batch of client.batches.list({ limit: 1 })) ids.push(batch.id);
        return ids;
      };
      assert.deepEqual(await listed(b), [theirs]);
      assert.deepEqual([...(await listed(a))].sort(), [...mine].sort());
      assert.equal((await api(gateway, keyB, `/v1/batches?after=${target}`)).status, 400, "another key's batch is no cursor either");

      // B's cancel changed nothing: A's batch runs to completion, and its output file is A's.
      let batch = await a.batches.retrieve(target);
      const giveUp = Date.now() + 20_000;
      while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
        assert.ok(Date.now() < giveUp, `batch still ${batch.status}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        batch = await a.batches.retrieve(target);
      }
      assert.equal(batch.status, 'completed');
      const outputId = batch.output_file_id ?? assert.fail('no output file');
      await assert.rejects(b.files.retrieve(outputId), OpenAI.NotFoundError);
      await assert.rejects(b.files.content(outputId), OpenAI.NotFoundError);
      assert.match(await (await a.files.content(outputId)).text(), /"custom_id":"one"/);
    });

    it('never writes a client key to the logs', () => {
      assert.ok(!gateway.logs.some((line) => line.includes(keyA) || line.includes(keyB)));
    });
  });

  describe(`tenant isolation of a queued request (${mode})`, () => {
    let upstream: FakeOpenAI;
    let gateway: TestGateway;

    before(async () => {
      upstream = await startFakeOpenAI();
      // No worker: an async request stays queued.
      gateway = await startTestGateway({ mode, roles: ['ingest', 'results'], config: { auth: { keys: clientKeys }, providers: provider(upstream.url) } });
    });

    after(async () => {
      await gateway?.close(1_000);
      await upstream?.close();
    });

    it("answers another key's queued request as unknown; its own key sees it queued", async () => {
      const res = await api(gateway, keyA, '/v1/chat/completions', { method: 'POST', headers: { prefer: 'respond-async' }, body: JSON.stringify(chatBody('wait your turn')) });
      assert.equal(res.status, 202);
      const { id } = (await res.json()) as { id: string };
      // The queued mark is written just after the 202; the owner's view is what waits for it.
      const giveUp = Date.now() + 5_000;
      let own = await api(gateway, keyA, `/v1/requests/${id}`);
      while (own.status === 404 && Date.now() < giveUp) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        own = await api(gateway, keyA, `/v1/requests/${id}`);
      }
      assert.equal(own.status, 200);
      assert.equal(((await own.json()) as { status: string }).status, 'queued');

      await assertSameAsUnknown(await api(gateway, keyB, `/v1/requests/${id}`), await api(gateway, keyB, `/v1/requests/${unknownRequestId}`), id, unknownRequestId);
      await assertSameAsUnknown(await api(gateway, keyB, `/v1/requests/${id}/stream`), await api(gateway, keyB, `/v1/requests/${unknownRequestId}/stream`), id, unknownRequestId);
      await assertSubscribeRefused(gateway, keyB, id);
    });
  });

  describe(`an open API, with no client keys (${mode})`, () => {
    let dir: string;
    let upstream: FakeOpenAI;
    let gateway: TestGateway;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'spillway-isolation-open-'));
      upstream = await startFakeOpenAI();
      gateway = await startTestGateway({ mode, config: { files: { dir }, providers: provider(upstream.url) } });
    });

    after(async () => {
      await gateway?.close(1_000);
      await upstream?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('lets any caller read every request, stream, file and batch, as before', async () => {
      const res = await api(gateway, 'sk-anyone', '/v1/chat/completions', { method: 'POST', body: JSON.stringify(chatBody('open to all')) });
      assert.equal(res.status, 200);
      const id = res.headers.get('x-request-id');
      assert.ok(id);
      assert.equal((await api(gateway, 'sk-someone-else', `/v1/requests/${id}`)).status, 200);
      const stream = await api(gateway, 'sk-someone-else', `/v1/requests/${id}/stream`);
      assert.equal(stream.status, 200);
      assert.match(await firstEvent(stream), /open to all/);
      const socket = connect(gateway, 'sk-someone-else');
      try {
        assert.equal((await subscribe(socket, id)).type, 'done');
      } finally {
        socket.ws.close();
      }

      const fileId = await uploadAs(gateway, 'sk-anyone', [batchLine('open')]);
      const other = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-someone-else', maxRetries: 0 });
      assert.equal((await other.files.retrieve(fileId)).id, fileId);
      const files: string[] = [];
      for await (const file of other.files.list()) files.push(file.id);
      assert.ok(files.includes(fileId));
      const batch = await other.batches.create({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' });
      assert.equal((await new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-anyone', maxRetries: 0 }).batches.retrieve(batch.id)).id, batch.id);
      const batches: string[] = [];
      for await (const listed of other.batches.list()) batches.push(listed.id);
      assert.deepEqual(batches, [batch.id]);
    });
  });
}
