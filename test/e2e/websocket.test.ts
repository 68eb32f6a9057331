// Streamed completions over WebSocket (/v1/realtime): request frames, chunk events with the
// request id and sequence number, a done event with usage, errors in OpenAI's shape, several
// requests on one socket, subscribe from a sequence number (also to requests started over HTTP),
// resume after a dropped socket with no gap and no repeat, authentication at the upgrade, a
// clean close on shutdown, and 1,000 concurrent streams on one process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { RealtimeClient as Client } from '#test/support/realtime-client.ts';

const body = (content: string): Record<string, unknown> => ({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] });

describe('WebSocket streaming (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let url: string;
  const clients: Client[] = [];
  const connect = async (opts?: ConstructorParameters<typeof Client>[1]): Promise<Client> => {
    const client = new Client(url, opts);
    clients.push(client);
    await client.opened();
    return client;
  };

  before(async () => {
    upstream = await startFakeOpenAI({ tokenIntervalMs: 5 });
    gateway = await startTestGateway({
      mode: 'kafka',
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
    });
    url = `${gateway.url.replace('http', 'ws')}/v1/realtime`;
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    await gateway?.close(1_000);
    await upstream?.close();
  });

  it('answers a request frame with accepted, chunks in sequence, and done with usage', async () => {
    const client = await connect();
    client.send({ type: 'request', ref: 'r1', body: body('hello socket') });
    const accepted = await client.next((f) => f.type === 'accepted' && f.ref === 'r1');
    assert.match(accepted.id ?? '', /^req_/);
    const done = await client.next((f) => f.type === 'done' && f.id === accepted.id);
    const seqs = client.frames.filter((f) => f.type === 'chunk' && f.id === accepted.id).map((f) => f.seq ?? 0);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'sequence numbers count from 1 without a gap');
    assert.equal(done.seq, seqs.length + 1);
    assert.equal(client.text(accepted.id ?? ''), 'Echo: hello socket');
    assert.ok((done.usage?.completion_tokens ?? 0) > 0);
  });

  it('carries several requests at once on one socket, each complete and correct', async () => {
    const client = await connect();
    const refs = ['a', 'b', 'c', 'd'];
    for (const ref of refs) client.send({ type: 'request', ref, body: body(`parallel ${ref} with a few more words`) });
    const ids = await Promise.all(refs.map(async (ref) => (await client.next((f) => f.type === 'accepted' && f.ref === ref)).id ?? ''));
    await Promise.all(ids.map((id) => client.next((f) => f.type === 'done' && f.id === id)));
    refs.forEach((ref, i) => assert.equal(client.text(ids[i] ?? ''), `Echo: parallel ${ref} with a few more words`));
  });

  it('resumes on a new socket after a dropped one: no gap, no repeat', async () => {
    upstream.reply = () => ({ text: Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ') });
    try {
      const first = await connect();
      first.send({ type: 'request', ref: 'long', body: body('long one') });
      const { id } = await first.next((f) => f.type === 'accepted');
      assert.ok(id);
      await first.next((f) => f.type === 'chunk' && f.id === id && (f.seq ?? 0) >= 8);
      first.ws.terminate();
      const before = first.text(id);
      const lastSeq = Math.max(...first.frames.filter((f) => f.type === 'chunk').map((f) => f.seq ?? 0));

      const second = await connect();
      second.send({ type: 'subscribe', id, after: lastSeq });
      await second.next((f) => f.type === 'done' && f.id === id);
      const resumedSeqs = second.frames.filter((f) => f.type === 'chunk').map((f) => f.seq ?? 0);
      assert.ok(resumedSeqs.every((s) => s > lastSeq));
      assert.equal(before + second.text(id), Array.from({ length: 60 }, (_, i) => `w${i}`).join(' '));
    } finally {
      upstream.reply = undefined;
    }
  });

  it('subscribes to a request started over HTTP, from its first event', async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body('started over http'), stream: true }),
    });
    const id = res.headers.get('x-request-id') ?? '';
    await res.text();
    const client = await connect();
    client.send({ type: 'subscribe', id, after: 0 });
    await client.next((f) => f.type === 'done' && f.id === id);
    assert.equal(client.text(id), 'Echo: started over http');
  });

  it('answers a bad frame and a bad body with error frames in OpenAI shape, and keeps the socket open', async () => {
    const client = await connect();
    client.ws.send('{not json');
    const badJson = await client.next((f) => f.type === 'error' && f.error?.code === 'invalid_json');
    assert.equal(badJson.status, 400);
    client.send({ type: 'request', ref: 'nobody', body: { model: 'openai/gpt-4o-mini' } });
    const badBody = await client.next((f) => f.type === 'error' && f.ref === 'nobody');
    assert.equal(badBody.status, 400);
    assert.match(badBody.error?.message ?? '', /messages/);
    client.send({ type: 'request', ref: 'unknown-model', body: { ...body('x'), model: 'nobody/model' } });
    const unknown = await client.next((f) => f.type === 'error' && f.ref === 'unknown-model');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.error?.code, 'model_not_found');
    client.send({ type: 'request', ref: 'still-open', body: body('still open') });
    const { id } = await client.next((f) => f.type === 'accepted' && f.ref === 'still-open');
    await client.next((f) => f.type === 'done' && f.id === id);
  });

  it('streams 1,000 concurrent requests on one process, all complete and correct', async () => {
    const sockets = await Promise.all(Array.from({ length: 50 }, () => connect()));
    const expected = new Map<string, { client: Client; text: string }>();
    const accepted: Promise<void>[] = [];
    sockets.forEach((client, s) => {
      for (let r = 0; r < 20; r++) {
        const ref = `s${s}r${r}`;
        client.send({ type: 'request', ref, body: body(`stream ${ref}`) });
        accepted.push(client.next((f) => f.type === 'accepted' && f.ref === ref).then((f) => void expected.set(f.id ?? '', { client, text: `Echo: stream ${ref}` })));
      }
    });
    await Promise.all(accepted);
    assert.equal(expected.size, 1_000);
    await Promise.all([...expected].map(([id, { client }]) => client.next((f) => (f.type === 'done' || f.type === 'error') && f.id === id)));
    const wrong = [...expected].filter(([id, { client, text }]) => client.text(id) !== text || !client.frames.some((f) => f.type === 'done' && f.id === id));
    assert.deepEqual(wrong.map(([id]) => id), []);
    for (const client of sockets) client.ws.close();
  });
});

describe('WebSocket authentication and shutdown (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway | undefined;

  before(async () => {
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        auth: { keys: [{ id: 'team-a', key: 'sk-spillway-client-1' }] },
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
  });

  const wsUrl = (): string => `${(gateway?.url ?? '').replace('http', 'ws')}/v1/realtime`;

  it('refuses the upgrade without a valid key', async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer sk-wrong' }];
    for (const headers of attempts) {
      const client = new Client(wsUrl(), { headers });
      const status = await new Promise<number>((resolve) =>
        client.ws.on('unexpected-response', (req, res) => {
          resolve(res.statusCode ?? 0);
          req.destroy();
        }),
      );
      assert.equal(status, 401);
    }
  });

  it('accepts the key as a bearer header, or as a subprotocol from a browser', async () => {
    const byHeader = new Client(wsUrl(), { headers: { authorization: 'Bearer sk-spillway-client-1' } });
    await byHeader.opened();
    const byProtocol = new Client(wsUrl(), { protocols: ['spillway', 'spillway.key.sk-spillway-client-1'] });
    await byProtocol.opened();
    assert.equal(byProtocol.ws.protocol, 'spillway', 'the key is never echoed back as the chosen protocol');
    byProtocol.send({ type: 'request', ref: 'p', body: body('with a protocol key') });
    const { id } = await byProtocol.next((f) => f.type === 'accepted');
    await byProtocol.next((f) => f.type === 'done' && f.id === id);
    assert.equal(byProtocol.text(id ?? ''), 'Echo: with a protocol key');
    byHeader.ws.close();
    byProtocol.ws.close();
  });

  it('closes open sockets with 1012 on shutdown, telling clients to reconnect', async () => {
    const client = new Client(wsUrl(), { headers: { authorization: 'Bearer sk-spillway-client-1' } });
    await client.opened();
    await gateway?.close(1_000);
    gateway = undefined;
    const { code } = await client.closed;
    assert.equal(code, 1012);
  });
});

describe('WebSocket idle limit (embedded)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  let url: string;

  before(async () => {
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'embedded',
      config: {
        realtime: { idleTimeoutMs: 300 },
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
      },
    });
    url = `${gateway.url.replace('http', 'ws')}/v1/realtime`;
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
  });

  it('closes a socket with nothing in flight after the idle timeout, with 4000', async () => {
    const client = new Client(url);
    await client.opened();
    const { code } = await client.closed;
    assert.equal(code, 4000);
  });
});
