// The OpenAI dialect's SSE bytes: by default exactly OpenAI's (`data:` lines, no `id:`), and with
// ids each event's sequence number as `id:`, the n-th event numbered n, so a count of the chunks
// received is as good a resume point as the last id.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';
import { openAIDialect, openAIDialectWithIds, type Dialect } from './dialect.ts';
import { recordedResponse } from './recorded-response.ts';
import { StreamWaiter } from './relay.ts';

/** The bytes a waiter writes for `events`, resuming after `after`. */
function framed(dialect: Dialect, events: LiveEvent[], after = 0): string {
  const out = recordedResponse();
  const waiter = new StreamWaiter(out.res, 'req_1', dialect, () => undefined, async () => undefined, after);
  for (const event of events) waiter.onEvent(event);
  return out.body();
}

const chunk = (seq: number): Record<string, unknown> => ({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: `t${seq}` }, finish_reason: null }] });
const delta = (seq: number): LiveEvent => ({ id: 'req_1', seq, type: 'delta', data: chunk(seq) });
const result: ResultEnvelope = { v: 1, id: 'req_1', status: 'succeeded', httpStatus: 200, response: { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [] }, attempts: [], acceptedAt: 0, completedAt: 0 };
const failed: ResultEnvelope = { ...result, status: 'failed', httpStatus: 502, response: undefined, error: { message: 'upstream went away', type: 'server_error', param: null, code: 'upstream_unreachable' } };
const stream: LiveEvent[] = [delta(1), delta(2), delta(3), { id: 'req_1', seq: 4, type: 'done', data: result }];

describe('openAI dialect framing', () => {
  it('sse_framing_carried_id_lines_openai_never_sends (fixed): the default is OpenAI byte for byte', () => {
    const expected = [1, 2, 3].map((seq) => `data: ${JSON.stringify(chunk(seq))}\n\n`).join('') + 'data: [DONE]\n\n';
    assert.equal(framed(openAIDialect, stream), expected);
  });

  it('ends a failed stream with a data: error event and no id', () => {
    const body = framed(openAIDialect, [delta(1), { id: 'req_1', seq: 2, type: 'error', data: failed }]);
    assert.equal(body, `data: ${JSON.stringify(chunk(1))}\n\ndata: ${JSON.stringify({ error: failed.error })}\n\n`);
  });

  it('with ids, the n-th event carries id: n, [DONE] included', () => {
    const expected = [1, 2, 3].map((seq) => `id: ${seq}\ndata: ${JSON.stringify(chunk(seq))}\n\n`).join('') + 'id: 4\ndata: [DONE]\n\n';
    assert.equal(framed(openAIDialectWithIds, stream), expected);
  });

  it('resuming after the number of chunks received writes exactly the rest', () => {
    const whole = framed(openAIDialect, stream);
    const events = whole.split('\n\n').filter(Boolean);
    for (let received = 0; received <= 3; received++) {
      const rest = framed(openAIDialect, stream, received);
      assert.equal(events.slice(0, received).map((e) => `${e}\n\n`).join('') + rest, whole, `after ${received} chunks`);
    }
  });
});
