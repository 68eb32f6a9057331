import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import type { ChatChunk } from '#libs/contracts/chat.ts';
import { StreamAssembler } from './stream-assembler.ts';

type Choice = ChatChunk['choices'][number];

function chunk(choices: Choice[], extra: Partial<ChatChunk> = {}): ChatChunk {
  return { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-4o-mini', choices, ...extra };
}

function delta(index: number, d: Choice['delta'], finish_reason: string | null = null): Choice {
  return { index, delta: d, finish_reason };
}

// The assembled choice as OpenAI defines it; parsing checks the shape instead of casting to it.
const assembledChoice = z.strictObject({
  index: z.number(),
  message: z.strictObject({
    role: z.string(),
    content: z.string().nullable(),
    tool_calls: z.array(z.strictObject({ id: z.string(), type: z.string(), function: z.strictObject({ name: z.string(), arguments: z.string() }) })).optional(),
  }),
  logprobs: z.null(),
  finish_reason: z.string().nullable(),
});

function choices(a: StreamAssembler): z.infer<typeof assembledChoice>[] {
  return z.array(assembledChoice).parse(a.completion().choices);
}

function assemble(chunks: ChatChunk[]): StreamAssembler {
  const a = new StreamAssembler();
  for (const c of chunks) a.add(c);
  return a;
}

describe('StreamAssembler', () => {
  it('concatenates content and keeps id, model and created of the stream', () => {
    const a = assemble([
      chunk([delta(0, { role: 'assistant', content: '' })]),
      chunk([delta(0, { content: 'Hel' })]),
      chunk([delta(0, { content: 'lo, ' })]),
      chunk([delta(0, { content: 'world' })]),
      chunk([delta(0, {}, 'stop')]),
    ]);
    const c = a.completion();
    assert.equal(c.id, 'chatcmpl-1');
    assert.equal(c.object, 'chat.completion');
    assert.equal(c.model, 'gpt-4o-mini');
    assert.equal(c.created, 1_700_000_000);
    assert.deepEqual(c.choices, [{ index: 0, message: { role: 'assistant', content: 'Hello, world' }, logprobs: null, finish_reason: 'stop' }]);
    assert.equal(a.text(), 'Hello, world');
  });

  it('null content deltas add nothing', () => {
    const a = assemble([chunk([delta(0, { content: 'a' })]), chunk([delta(0, { content: null })]), chunk([delta(0, { content: 'b' })])]);
    assert.equal(a.text(), 'ab');
  });

  it('text() reports the first choice so far, mid-stream', () => {
    const a = new StreamAssembler();
    assert.equal(a.text(), '');
    a.add(chunk([delta(0, { content: 'par' })]));
    assert.equal(a.text(), 'par');
    a.add(chunk([delta(0, { content: 'tial' })]));
    assert.equal(a.text(), 'partial');
  });

  it('keeps the finish reason; it is null while unfinished', () => {
    const open = assemble([chunk([delta(0, { content: 'x' })])]);
    assert.equal(open.completion().choices[0].finish_reason, null);
    const cut = assemble([chunk([delta(0, { content: 'x' })]), chunk([delta(0, {}, 'length')])]);
    assert.equal(cut.completion().choices[0].finish_reason, 'length');
  });

  it('keeps the usage of the final usage chunk, and has none without one', () => {
    const usage = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };
    const a = assemble([chunk([delta(0, { content: 'x' }, 'stop')], { usage: null }), chunk([], { usage })]);
    assert.deepEqual(a.getUsage(), usage);
    assert.deepEqual(a.completion().usage, usage);
    assert.deepEqual(a.completion().choices.length, 1, 'the usage chunk with no choices adds no choice');
    const none = assemble([chunk([delta(0, { content: 'x' }, 'stop')])]);
    assert.equal(none.getUsage(), undefined);
    assert.equal('usage' in none.completion(), false);
  });

  it('assembles tool calls from fragments by index', () => {
    const a = assemble([
      chunk([delta(0, { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] })]),
      chunk([delta(0, { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })]),
      chunk([delta(0, { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } }] })]),
      chunk([delta(0, { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] })]),
      chunk([delta(0, { tool_calls: [{ index: 1, function: { arguments: '{"tz":"CET"}' } }] })]),
      chunk([delta(0, {}, 'tool_calls')]),
    ]);
    const c = a.completion();
    assert.deepEqual(c.choices, [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ]);
    assert.deepEqual(JSON.parse(choices(a)[0].message.tool_calls?.[0].function.arguments ?? ''), { city: 'Paris' });
  });

  it('keeps text that comes alongside tool calls', () => {
    const a = assemble([
      chunk([delta(0, { content: 'Let me check.' })]),
      chunk([delta(0, { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '{}' } }] }, 'tool_calls')]),
    ]);
    const message = choices(a)[0].message;
    assert.equal(message.content, 'Let me check.');
    assert.equal(message.tool_calls?.length, 1);
  });

  it('has no tool_calls key when there were none', () => {
    const message = choices(assemble([chunk([delta(0, { content: 'hi' }, 'stop')])]))[0].message;
    assert.equal('tool_calls' in message, false);
  });

  it('assembles several choices apart, ordered by index whatever order they arrive in', () => {
    const a = assemble([
      chunk([delta(1, { content: 'B1 ' }), delta(0, { content: 'A1 ' })]),
      chunk([delta(2, { content: 'C1' })]),
      chunk([delta(0, { content: 'A2' }, 'stop')]),
      chunk([delta(1, { content: 'B2' })]),
      chunk([delta(1, {}, 'length'), delta(2, {}, 'stop')]),
    ]);
    assert.deepEqual(
      choices(a).map((c) => [c.index, c.message.content, c.finish_reason]),
      [
        [0, 'A1 A2', 'stop'],
        [1, 'B1 B2', 'length'],
        [2, 'C1', 'stop'],
      ],
    );
    assert.equal(a.text(), 'A1 A2');
  });

  it('an empty stream gives an empty completion', () => {
    const c = new StreamAssembler().completion();
    assert.deepEqual(c.choices, []);
    assert.equal(c.object, 'chat.completion');
  });
});
