// The mock provider: the same request always gets the same answer, and its pacing (time to first
// token, token rate) is a floor a load test can count on. Only lower bounds are asserted: an
// upper bound would measure the machine, not the mock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import { MockAdapter } from './adapter.ts';

const ask = (content: string): ChatRequest => ({ model: 'echo', messages: [{ role: 'user', content }] });
const options = { signal: new AbortController().signal, model: 'echo', timeouts: { connectMs: 1_000, firstByteMs: 1_000, idleMs: 1_000 } };
const mock = (latencyMs: number, tokensPerSecond: number): MockAdapter => new MockAdapter('mock', { type: 'mock', models: ['*'], latencyMs, tokensPerSecond });
/** Node may fire a timer up to a millisecond before its delay by the wall clock (its loop time is cached). */
const timerSlackMs = 1;

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<{ chunk: ChatChunk; at: number }[]> {
  const out: { chunk: ChatChunk; at: number }[] = [];
  for await (const chunk of chunks) out.push({ chunk, at: performance.now() });
  return out;
}

const answerSchema = z.object({ choices: z.array(z.object({ message: z.object({ content: z.string() }) })).length(1) });
const contentOf = (completion: ChatCompletion): string | undefined => answerSchema.parse(completion).choices[0]?.message.content;
const textOf = (chunks: { chunk: ChatChunk }[]): string => chunks.map(({ chunk }) => chunk.choices[0]?.delta.content ?? '').join('');

describe('MockAdapter', () => {
  it('answers the same request with the same text and usage, whole or streamed', async () => {
    const adapter = mock(0, 0);
    const first = await adapter.complete(ask('the same question'), options);
    const second = await adapter.complete(ask('the same question'), options);
    assert.equal(contentOf(first.value), 'Mock response: the same question');
    assert.deepEqual(second.value.choices, first.value.choices);
    assert.deepEqual(second.value.usage, first.value.usage);
    const streamed = await collect((await adapter.stream(ask('the same question'), options)).chunks);
    assert.equal(textOf(streamed), contentOf(first.value));
    assert.deepEqual(streamed.at(-1)?.chunk.usage, first.value.usage);
    const other = await adapter.complete(ask('another question'), options);
    assert.notEqual(contentOf(other.value), contentOf(first.value));
  });

  it('waits at least latencyMs before the first token', async () => {
    const latencyMs = 60;
    const adapter = mock(latencyMs, 0);
    const started = performance.now();
    const chunks = await collect((await adapter.stream(ask('slow start'), options)).chunks);
    assert.ok((chunks[0]?.at ?? 0) - started >= latencyMs - timerSlackMs, `first chunk after ${(chunks[0]?.at ?? 0) - started} ms`);
    const wholeStarted = performance.now();
    await adapter.complete(ask('slow start'), options);
    assert.ok(performance.now() - wholeStarted >= latencyMs - timerSlackMs);
  });

  it('paces tokens at no more than tokensPerSecond', async () => {
    const tokensPerSecond = 50; // 20 ms apart
    const adapter = mock(0, tokensPerSecond);
    const chunks = await collect((await adapter.stream(ask('one two three four five six'), options)).chunks);
    const tokens = chunks.filter(({ chunk }) => chunk.choices[0]?.delta.content);
    // 'Mock response: one two three four five six' is eight tokens: seven gaps between them.
    assert.equal(tokens.length, 8);
    const gaps = tokens.length - 1;
    const spread = (tokens.at(-1)?.at ?? 0) - (tokens[0]?.at ?? 0);
    assert.ok(spread >= gaps * (1000 / tokensPerSecond - timerSlackMs), `${tokens.length} tokens over ${spread} ms`);
    const started = performance.now();
    await adapter.complete(ask('one two three four five six'), options);
    assert.ok(performance.now() - started >= gaps * (1000 / tokensPerSecond) - timerSlackMs, 'a whole answer takes as long as its tokens would');
  });
});
