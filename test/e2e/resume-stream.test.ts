// Resumable SSE: GET /v1/requests/{id}/stream resumes after Last-Event-ID or ?after=, for a
// request still running and for a finished one. The POST stream is OpenAI's bytes (no `id:`)
// unless the client sends x-spillway-stream-ids: true; either way the n-th chunk is sequence
// number n, so a client without ids resumes with ?after=<chunks received>. A client that
// disconnects does not cancel the generation: the text read before and after the break
// concatenates to exactly the uninterrupted text.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { readResultsTopic } from '#test/support/results-topic.ts';

const words = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

interface SseEvent {
  id: number | undefined;
  data: string;
}

/** Reads SSE events from a response, handing each to `onEvent`; stops when it returns false. */
async function readEvents(res: Response, onEvent: (event: SseEvent) => boolean): Promise<void> {
  assert.ok(res.body);
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let at: number;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        let id: number | undefined;
        let data = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith('id: ')) id = Number(line.slice(4));
          if (line.startsWith('data: ')) data = line.slice(6);
        }
        if (!onEvent({ id, data })) return;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The content of a chunk event ('' for anything else). */
function contentOf(data: string): string {
  if (data === '[DONE]') return '';
  const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string | null } }[] };
  return chunk.choices?.[0]?.delta?.content ?? '';
}

describe('resumable SSE (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    upstream = await startFakeOpenAI({ tokenIntervalMs: 15 });
    upstream.reply = () => ({ text: words });
    gateway = await startTestGateway({
      mode: 'kafka',
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
  });

  const startStream = (content: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }], stream: true }),
    });

  it('disconnect mid-stream, resume with Last-Event-ID: no gap, no repeat, and the generation was not cancelled', async () => {
    const first = await startStream('resume me', { 'x-spillway-stream-ids': 'true' });
    const requestId = first.headers.get('x-request-id');
    assert.ok(requestId);
    let before = '';
    let lastId = 0;
    let events = 0;
    await readEvents(first, (event) => {
      assert.ok(event.id !== undefined && event.id > lastId, 'ids increase');
      lastId = event.id;
      before += contentOf(event.data);
      return ++events < 10;
    });
    assert.ok(before.length > 0 && before.length < words.length, 'the break came mid-stream');

    const resumed = await fetch(`${gateway.url}/v1/requests/${requestId}/stream`, { headers: { 'last-event-id': String(lastId) } });
    assert.equal(resumed.status, 200);
    let rest = '';
    let sawDone = false;
    await readEvents(resumed, (event) => {
      assert.ok(event.id !== undefined && event.id > lastId, `event ${String(event.id)} comes after ${lastId}`);
      lastId = event.id;
      if (event.data === '[DONE]') sawDone = true;
      rest += contentOf(event.data);
      return !sawDone;
    });
    assert.ok(sawDone);
    assert.equal(before + rest, words);
  });

  it('a client without ids (OpenAI framing) resumes with ?after=<chunks received>: no gap, no repeat', async () => {
    const first = await startStream('resume me by count');
    const requestId = first.headers.get('x-request-id');
    assert.ok(requestId);
    let before = '';
    let chunks = 0;
    await readEvents(first, (event) => {
      assert.equal(event.id, undefined, 'the POST stream carries no id: lines');
      before += contentOf(event.data);
      return ++chunks < 10;
    });
    assert.ok(before.length > 0 && before.length < words.length, 'the break came mid-stream');

    const resumed = await fetch(`${gateway.url}/v1/requests/${requestId}/stream?after=${chunks}`);
    assert.equal(resumed.status, 200);
    let rest = '';
    let next = chunks + 1;
    let sawDone = false;
    await readEvents(resumed, (event) => {
      assert.equal(event.id, next++, 'the resumed stream goes on from the sequence number after the chunks received');
      if (event.data === '[DONE]') sawDone = true;
      rest += contentOf(event.data);
      return !sawDone;
    });
    assert.ok(sawDone);
    assert.equal(before + rest, words);
  });

  it('replays a finished stream whole, or from ?after=', async () => {
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'finished' }], stream: true }, { headers: { 'x-spillway-stream-ids': 'true' } })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, words, 'the official SDK reads a stream whose events carry ids');
    const requestId = response.headers.get('x-request-id');

    const collect = async (query: string): Promise<{ text: string; ids: number[] }> => {
      const res = await fetch(`${gateway.url}/v1/requests/${requestId}/stream${query}`);
      assert.equal(res.status, 200);
      let replayed = '';
      const ids: number[] = [];
      await readEvents(res, (event) => {
        if (event.id !== undefined) ids.push(event.id);
        replayed += contentOf(event.data);
        return event.data !== '[DONE]';
      });
      return { text: replayed, ids };
    };
    const whole = await collect('');
    assert.equal(whole.text, words);
    const cut = whole.ids[5];
    assert.ok(cut !== undefined);
    const tail = await collect(`?after=${cut}`);
    assert.ok(tail.ids.every((id) => id > cut));
    const head = whole.ids.filter((id) => id <= cut).length;
    assert.equal(tail.ids.length, whole.ids.length - head);
  });

  it('reads a request that was not streamed as one chunk with the whole answer', async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'not streamed' }] }),
    });
    assert.equal(res.status, 200);
    const requestId = res.headers.get('x-request-id');
    await res.arrayBuffer();
    const stream = await fetch(`${gateway.url}/v1/requests/${requestId}/stream`);
    const data: string[] = [];
    await readEvents(stream, (event) => {
      data.push(event.data);
      return event.data !== '[DONE]';
    });
    assert.equal(data.length, 2);
    assert.equal(contentOf(data[0] ?? ''), words);
    assert.equal(data[1], '[DONE]');
  });

  it('cancels the generation when a client that asked for it disconnects mid-stream', async () => {
    const results = await readResultsTopic(servicesEnv().kafkaBrokers, gateway.prefix);
    try {
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-spillway-cancel-on-disconnect': 'true' },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'cancel me' }], stream: true }),
      });
      const requestId = res.headers.get('x-request-id');
      assert.ok(requestId);
      let events = 0;
      await readEvents(res, () => ++events < 5);
      await results.waitFor([requestId], 15_000);
      const result = results.byId.get(requestId)?.[0];
      assert.equal(result?.status, 'failed');
      assert.equal(result?.httpStatus, 499);
      assert.equal(result?.error?.code, 'cancelled');
    } finally {
      await results.close();
    }
  });

  it('answers 404 for an unknown request and 400 for a resume point that is not a number', async () => {
    const unknown = await fetch(`${gateway.url}/v1/requests/req_unknown/stream`);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'request_not_found');
    const bad = await fetch(`${gateway.url}/v1/requests/req_unknown/stream?after=abc`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_resume_point');
  });
});
