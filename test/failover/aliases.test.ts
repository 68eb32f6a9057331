// Aliases: weighted targets spread requests by weight; a request's own `fallbacks` replace the
// alias's; `x-spillway-fallback: off` keeps a request on its primary group, so its error comes back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { attemptSummary, chat, storedResult } from '#test/support/chat-exchange.ts';
import { breakerOff, fakeProvider, quickRetry } from '#test/support/fake-provider.ts';

describe('aliases, load balancing and per-request fallback control (kafka)', () => {
  let heavy: FakeOpenAI;
  let light: FakeOpenAI;
  let other: FakeOpenAI;
  let gateway: TestGateway;

  before(async () => {
    [heavy, light, other] = await Promise.all([startFakeOpenAI(), startFakeOpenAI(), startFakeOpenAI()]);
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: { heavy: fakeProvider(heavy.url), light: fakeProvider(light.url), other: fakeProvider(other.url) },
        models: {
          balanced: { targets: [{ model: 'heavy/m', weight: 3 }, { model: 'light/m', weight: 1 }] },
          chained: { targets: ['heavy/m'], fallbacks: ['light/m'] },
        },
        routing: { retry: { overloaded: quickRetry(0) }, breaker: breakerOff },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await Promise.all([heavy?.close(), light?.close(), other?.close()]);
  });

  it('spreads requests over weighted targets roughly by weight (3:1)', async () => {
    const [h0, l0] = [heavy.requests.length, light.requests.length];
    const total = 40;
    const providers: string[] = [];
    for (let i = 0; i < total; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => chat(gateway.url, { model: 'balanced', content: `spread ${i + j}` })));
      for (const answer of batch) {
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        providers.push(answer.headers.get('x-spillway-provider') ?? '');
      }
    }
    const toHeavy = heavy.requests.length - h0;
    const toLight = light.requests.length - l0;
    assert.equal(toHeavy + toLight, total, 'one call per request: nothing failed');
    assert.equal(providers.filter((p) => p === 'heavy').length, toHeavy, 'x-spillway-provider names the target that answered');
    // Binomial(40, 0.75): both bounds fail with a probability below 1e-3.
    assert.ok(toLight > 0, `the lighter target got none of ${total}`);
    assert.ok(toHeavy > toLight, `heavy ${toHeavy}, light ${toLight}: the heavier target should get more`);
  });

  it("a request's own fallbacks replace the alias's", async () => {
    const [l0, o0] = [light.requests.length, other.requests.length];
    heavy.enqueue({ kind: 'status', status: 503 });
    const answer = await chat(gateway.url, { model: 'chained', fallbacks: ['other/m'], content: 'my own chain' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'other');
    assert.equal(other.requests.length - o0, 1);
    assert.equal(light.requests.length - l0, 0, "the alias's fallback is not used");
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [
      { target: 'heavy/m', failure: 'overloaded', status: 503 },
      { target: 'other/m', status: 200 },
    ]);
  });

  it('the alias falls back to its own chain when the request names none', async () => {
    const l0 = light.requests.length;
    heavy.enqueue({ kind: 'status', status: 503 });
    const answer = await chat(gateway.url, { model: 'chained', content: 'alias chain' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('x-spillway-provider'), 'light');
    assert.equal(light.requests.length - l0, 1);
  });

  it('x-spillway-fallback: off returns the primary error, with no fallback', async () => {
    const [h0, l0, o0] = [heavy.requests.length, light.requests.length, other.requests.length];
    heavy.enqueue({ kind: 'status', status: 503 });
    const answer = await chat(gateway.url, { model: 'chained', fallbacks: ['other/m'], content: 'no fallback', headers: { 'x-spillway-fallback': 'off' } });
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    assert.equal(answer.error?.code, 'upstream_overloaded');
    assert.equal(answer.headers.get('x-spillway-attempts'), '1');
    assert.equal(heavy.requests.length - h0, 1);
    assert.equal(light.requests.length - l0, 0);
    assert.equal(other.requests.length - o0, 0);
    const stored = await storedResult(gateway.url, answer.requestId);
    assert.equal(stored.status, 'failed');
    assert.deepEqual(attemptSummary(stored.attempts), [{ target: 'heavy/m', failure: 'overloaded', status: 503 }]);
  });
});
