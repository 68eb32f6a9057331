// StreamWaiter writes a stream's events in sequence order with no hole: a live event that
// overtakes the ones before it waits for them (stream_waiter_writes_overtaken_events_with_a_gap),
// a catch-up fills the hole, and a hole nothing fills ends the stream with an explicit error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';
import { openAIDialect } from './dialect.ts';
import { recordedResponse as response } from './recorded-response.ts';
import { StreamWaiter } from './relay.ts';

const delta = (seq: number): Extract<LiveEvent, { type: 'delta' }> => ({ id: 'req_1', seq, type: 'delta', data: { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: `t${seq} ` } }] } });
const result: ResultEnvelope = { v: 1, id: 'req_1', status: 'succeeded', httpStatus: 200, response: { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [] }, attempts: [], acceptedAt: 0, completedAt: 0 };
const done = (seq: number): LiveEvent => ({ id: 'req_1', seq, type: 'done', data: result });
const text = (body: string): string => [...body.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('');

describe('StreamWaiter', () => {
  it('stream_waiter_writes_overtaken_events_with_a_gap: events that overtake earlier ones wait for them', () => {
    const out = response();
    const waiter = new StreamWaiter(out.res, 'req_1', openAIDialect, () => undefined, async () => undefined);
    for (const event of [delta(1), delta(3), delta(2), done(4)]) waiter.onEvent(event);
    assert.equal(text(out.body()), 't1 t2 t3 ');
    assert.match(out.body(), /data: \[DONE\]\n\n$/);
    assert.ok(out.ended());
  });

  it('holds the end of a stream until a catch-up fills the hole before it', async () => {
    const out = response();
    let fill = (): void => undefined;
    const waiter = new StreamWaiter(out.res, 'req_1', openAIDialect, () => undefined, () => new Promise<void>((resolve) => (fill = () => {
      waiter.onEvent(delta(2));
      resolve();
    })));
    for (const event of [delta(1), delta(3), done(4)]) waiter.onEvent(event);
    assert.equal(out.ended(), false, 'the end waits for the missing event');
    fill();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(text(out.body()), 't1 t2 t3 ');
    assert.match(out.body(), /data: \[DONE\]\n\n$/);
  });

  it('ends with an explicit stream_interrupted error, never a silent gap, when nothing fills the hole', async () => {
    const out = response();
    const waiter = new StreamWaiter(out.res, 'req_1', openAIDialect, () => undefined, async () => undefined);
    for (const event of [delta(1), delta(3), done(4)]) waiter.onEvent(event);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(text(out.body()), 't1 ');
    assert.match(out.body(), /"code":"stream_interrupted"/);
    assert.ok(!out.body().includes('[DONE]'));
    assert.ok(out.ended());
  });

  it("names in the stream's headers the target its first delta says answered, and keeps them after a failover", () => {
    const out = response();
    const waiter = new StreamWaiter(out.res, 'req_1', openAIDialect, () => undefined, async () => undefined);
    waiter.onEvent({ ...delta(1), answering: { provider: 'backup', model: 'm', attempts: 2 } });
    waiter.onEvent({ ...delta(2), answering: { provider: 'third', model: 'n', attempts: 3 } });
    waiter.onEvent(done(3));
    const headers = out.headers();
    assert.equal(headers['x-spillway-provider'], 'backup');
    assert.equal(headers['x-spillway-model'], 'm');
    assert.equal(headers['x-spillway-attempts'], '2');
    assert.equal(headers['x-request-id'], 'req_1');
  });
});
