// Hedging: an alias that asks for it starts its next target when the primary has produced no
// first token in time, answers with whichever comes first, and cancels the other.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';

describe('hedged requests (kafka)', () => {
  let slow: FakeOpenAI;
  let fast: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    slow = await startFakeOpenAI({ latencyMs: 3_000 });
    fast = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: {
          slow: { type: 'openai-compatible', baseUrl: slow.url, keys: [{ id: 'slow-key', key: 'sk-slow' }], models: ['m'] },
          fast: { type: 'openai-compatible', baseUrl: fast.url, keys: [{ id: 'fast-key', key: 'sk-fast' }], models: ['m'] },
        },
        models: { quick: { targets: ['slow/m'], fallbacks: ['fast/m'], hedge: { afterMs: 100 } } },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await slow?.close();
    await fast?.close();
  });

  const ask = (stream: boolean): Promise<Response> =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'quick', stream, messages: [{ role: 'user', content: 'race me' }] }),
    });

  it('answers from the hedge when the primary is slow, and records the primary as cancelled', async () => {
    const slowCalls = slow.requests.length;
    const res = await ask(false);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-spillway-provider'), 'fast');
    assert.equal(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content, 'Echo: race me');
    assert.equal(slow.requests.length, slowCalls + 1, 'the primary was called first');
    const view = (await (await fetch(`${gateway.url}/v1/requests/${res.headers.get('x-request-id')}`)).json()) as { attempts: { provider: string; failure?: string }[] };
    assert.deepEqual(
      view.attempts.map((a) => [a.provider, a.failure ?? 'ok']),
      [
        ['slow', 'cancelled'],
        ['fast', 'ok'],
      ],
    );
  });

  it('hedges a stream too: the client reads one clean stream from the hedge', async () => {
    const res = await ask(true);
    const raw = await res.text();
    const text = raw
      .split('\n\n')
      .map((e) => e.slice(e.indexOf('data: ') + 6))
      .filter((data) => data.startsWith('{'))
      .map((data) => (JSON.parse(data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
      .join('');
    assert.equal(text, 'Echo: race me');
    assert.match(raw, /data: \[DONE\]\n\n$/);
    assert.equal(raw.match(/"role":"assistant"/g)?.length, 1, 'one opening chunk');
  });

  it('does not hedge when the primary answers in time', async () => {
    const fastCalls = fast.requests.length;
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast/m', messages: [{ role: 'user', content: 'no race' }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-spillway-attempts'), '1');
    assert.equal(fast.requests.length, fastCalls + 1);
  });
});
