// A produce that times out may still reach Kafka afterwards (the client library goes on
// retrying it). The client was told 503 "not accepted" and will retry, so the late copy must not
// run: ingest records the refusal, and a worker that meets the late copy finds it answered.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BusUnavailableError, type OutgoingMessage } from '#libs/bus/bus.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { waitForLog } from '#test/support/log-lines.ts';

describe('a request refused with 503 whose produce lands late (kafka)', () => {
  let upstream: FakeOpenAI;
  let gateway: TestGateway;
  const held: { topic: string; messages: OutgoingMessage[] }[] = [];

  before(async () => {
    upstream = await startFakeOpenAI();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await upstream?.close();
  });

  it('refused_request_runs_when_its_produce_lands_late: the late copy is answered with the refusal, never executed', async () => {
    const bus = gateway.runtime.bus;
    const produce = bus.produce.bind(bus);
    bus.produce = async (topic, messages) => {
      if (topic !== gateway.runtime.topics.interactive) return produce(topic, messages);
      held.push({ topic, messages });
      throw new BusUnavailableError('Kafka did not acknowledge within 2000 ms');
    };
    let res: Response;
    try {
      res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
      });
    } finally {
      bus.produce = produce;
    }
    assert.equal(res.status, 503);
    const requestId = res.headers.get('x-request-id');
    assert.ok(requestId);

    const from = gateway.logs.length;
    for (const late of held) await produce(late.topic, late.messages);
    const handled = await Promise.race([
      waitForLog(gateway.logs, { requestId, msg: 'request already answered; re-publishing its result' }, { from, timeoutMs: 20_000 }),
      waitForLog(gateway.logs, { requestId, msg: 'request completed' }, { from, timeoutMs: 20_000 }),
    ]);
    assert.equal(handled.msg, 'request already answered; re-publishing its result');
    assert.equal(upstream.requests.length, 0, 'the refused request never reached the provider');

    const lookup = await fetch(`${gateway.url}/v1/requests/${requestId}`);
    const body = (await lookup.json()) as { status?: string; error?: { code?: string } };
    assert.equal(body.status, 'failed');
    assert.equal(body.error?.code, 'bus_unavailable');
  });
});
