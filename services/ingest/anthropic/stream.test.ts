import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import type { ChatChunk } from '#libs/contracts/chat.ts';
import { AnthropicStreamTranslator, sseFrame } from './stream.ts';

type Frame = { event: string; data: Record<string, unknown> };

/** Parses SSE frames back, checking each is exactly `event: <type>\ndata: <json>\n\n` and names its own type. */
function parse(frames: string[]): Frame[] {
  return frames.map((frame) => {
    const match = /^event: ([a-z_]+)\ndata: (.+)\n\n$/.exec(frame);
    assert.ok(match, `malformed frame: ${JSON.stringify(frame)}`);
    const data = JSON.parse(match[2]) as Record<string, unknown>;
    assert.equal(data.type, match[1], 'the event name and the data type agree');
    return { event: match[1], data };
  });
}

function chunk(delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): ChatChunk {
  return { id: 'chatcmpl-abc', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'gpt-4o-mini', choices: [{ index: 0, delta, finish_reason: finish, ...extra }] };
}

function usageChunk(usage: Record<string, unknown>): ChatChunk {
  return { id: 'chatcmpl-abc', object: 'chat.completion.chunk', created: 1_760_000_000, model: 'gpt-4o-mini', choices: [], usage: usage as ChatChunk['usage'] };
}

function run(chunks: ChatChunk[], opts: { model: string; inputTokens?: number; messageId?: string } = { model: 'claude-sonnet-4-5' }): string[] {
  const translator = new AnthropicStreamTranslator(opts);
  return [...chunks.flatMap((c) => translator.push(c)), ...translator.finish()];
}

const messageStart = (inputTokens = 0, id = 'msg_abc'): Frame => ({
  event: 'message_start',
  data: {
    type: 'message_start',
    message: { id, type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 0 } },
  },
});
const ping: Frame = { event: 'ping', data: { type: 'ping' } };
const textStart = (index: number): Frame => ({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } } });
const textDelta = (index: number, text: string): Frame => ({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text } } });
const toolStart = (index: number, id: string, name: string): Frame => ({
  event: 'content_block_start',
  data: { type: 'content_block_start', index, content_block: { type: 'tool_use', id, name, input: {} } },
});
const jsonDelta = (index: number, partial: string): Frame => ({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: partial } } });
const blockStop = (index: number): Frame => ({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
const messageDelta = (stop: string, usage: Record<string, unknown>, stopSequence: string | null = null): Frame => ({
  event: 'message_delta',
  data: { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: stopSequence }, usage },
});
const messageStop: Frame = { event: 'message_stop', data: { type: 'message_stop' } };

const textChunks = [
  chunk({ role: 'assistant', content: '', refusal: null }),
  chunk({ content: 'Hello' }),
  chunk({ content: ', world' }),
  chunk({}, 'stop'),
  usageChunk({ prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 }),
];

const toolChunks = [
  chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_W1', type: 'function', function: { name: 'get_weather', arguments: '' } }], refusal: null }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  chunk({}, 'tool_calls'),
  usageChunk({ prompt_tokens: 80, completion_tokens: 18, total_tokens: 98 }),
];

const mixedChunks = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'Let me check.' }),
  chunk({ tool_calls: [{ index: 0, id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] }),
  chunk({ tool_calls: [{ index: 1, id: 'toolu_01B', type: 'function', function: { name: 'get_time', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 1, function: { arguments: '{"tz":"CET"}' } }] }),
  chunk({}, 'tool_calls'),
  usageChunk({ prompt_tokens: 300, completion_tokens: 40, total_tokens: 340, prompt_tokens_details: { cached_tokens: 256 } }),
];

describe('AnthropicStreamTranslator', () => {
  it('frames are `event: <type>\\ndata: <json>\\n\\n`', () => {
    assert.equal(sseFrame('ping', { type: 'ping' }), 'event: ping\ndata: {"type":"ping"}\n\n');
  });

  it('a text-only stream: message_start, ping, one text block, message_delta with usage, message_stop', () => {
    assert.deepEqual(parse(run(textChunks)), [
      messageStart(),
      ping,
      textStart(0),
      textDelta(0, 'Hello'),
      textDelta(0, ', world'),
      blockStop(0),
      messageDelta('end_turn', { input_tokens: 12, output_tokens: 4 }),
      messageStop,
    ]);
  });

  it('a tool-call stream: a tool_use block opened with the call id and name, arguments as input_json_delta', () => {
    assert.deepEqual(parse(run(toolChunks)), [
      messageStart(),
      ping,
      toolStart(0, 'call_W1', 'get_weather'),
      jsonDelta(0, '{"city":'),
      jsonDelta(0, '"Paris"}'),
      blockStop(0),
      messageDelta('tool_use', { input_tokens: 80, output_tokens: 18 }),
      messageStop,
    ]);
  });

  it('a mixed stream: text closed before the first tool opens, each tool closed before the next, blocks indexed in order', () => {
    assert.deepEqual(parse(run(mixedChunks)), [
      messageStart(),
      ping,
      textStart(0),
      textDelta(0, 'Let me check.'),
      blockStop(0),
      toolStart(1, 'toolu_01A', 'get_weather'),
      jsonDelta(1, '{"city":"Paris"}'),
      blockStop(1),
      toolStart(2, 'toolu_01B', 'get_time'),
      jsonDelta(2, '{"tz":"CET"}'),
      blockStop(2),
      messageDelta('tool_use', { input_tokens: 44, output_tokens: 40, cache_read_input_tokens: 256 }),
      messageStop,
    ]);
  });

  it('text after a tool call opens a new text block', () => {
    const frames = parse(run([chunk({ tool_calls: [{ index: 0, id: 't1', function: { name: 'f', arguments: '{}' } }] }), chunk({ content: 'done' }), chunk({}, 'tool_calls')]));
    assert.deepEqual(frames.slice(2, 8), [toolStart(0, 't1', 'f'), jsonDelta(0, '{}'), blockStop(0), textStart(1), textDelta(1, 'done'), blockStop(1)]);
  });

  it('arguments that arrive before the tool name are sent once the block opens', () => {
    const frames = parse(
      run([
        chunk({ tool_calls: [{ index: 0, id: 'call_1', function: { arguments: '{"a"' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { name: 'lookup', arguments: ':1}' } }] }),
        chunk({}, 'tool_calls'),
      ]),
    );
    assert.deepEqual(frames.slice(2, 5), [toolStart(0, 'call_1', 'lookup'), jsonDelta(0, '{"a":1}'), blockStop(0)]);
  });

  it('a tool call without an id gets a stable toolu_ id', () => {
    const frames = parse(run([chunk({ tool_calls: [{ index: 0, function: { name: 'lookup', arguments: '{}' } }] }), chunk({}, 'tool_calls')]));
    assert.deepEqual(frames[2], toolStart(0, 'toolu_abc_0', 'lookup'));
  });

  it('a tool call finished with "stop" is still tool_use', () => {
    const frames = parse(run([chunk({ tool_calls: [{ index: 0, id: 'c', function: { name: 'f', arguments: '{}' } }] }), chunk({}, 'stop')]));
    assert.deepEqual(frames.at(-2), messageDelta('tool_use', { output_tokens: 0 }));
  });

  for (const [finish, stop] of [
    ['length', 'max_tokens'],
    ['content_filter', 'refusal'],
    [null, 'end_turn'],
  ] as const) {
    it(`finish_reason ${String(finish)} ends with stop_reason ${stop}`, () => {
      const frames = parse(run([chunk({ content: 'x' }), chunk({}, finish)]));
      assert.deepEqual(frames.at(-2), messageDelta(stop, { output_tokens: 0 }));
    });
  }

  it('a reported stop sequence is stop_sequence in message_delta', () => {
    const frames = parse(run([chunk({ content: 'one, two' }), chunk({}, 'stop', { stop_sequence: 'three' })]));
    assert.deepEqual(frames.at(-2), messageDelta('stop_sequence', { output_tokens: 0 }, 'three'));
  });

  it('a streamed refusal is text with stop_reason refusal', () => {
    const frames = parse(run([chunk({ refusal: 'I can’t help with that.' }), chunk({}, 'stop')]));
    assert.deepEqual(frames.slice(2), [textStart(0), textDelta(0, 'I can’t help with that.'), blockStop(0), messageDelta('refusal', { output_tokens: 0 }), messageStop]);
  });

  it('input tokens known up front go in message_start; the message id can be given', () => {
    const frames = parse(run(textChunks, { model: 'claude-sonnet-4-5', inputTokens: 12, messageId: 'msg_spw_1' }));
    assert.deepEqual(frames[0], messageStart(12, 'msg_spw_1'));
  });

  it('usage on the first chunk puts its input tokens in message_start', () => {
    const first: ChatChunk = { ...chunk({ content: 'Hi' }), usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } };
    assert.deepEqual(parse(run([first]))[0], messageStart(9));
  });

  it('choices other than index 0 are ignored', () => {
    const twoChoices: ChatChunk = {
      ...chunk({ content: 'A' }),
      choices: [
        { index: 1, delta: { content: 'B' }, finish_reason: null },
        { index: 0, delta: { content: 'A' }, finish_reason: null },
      ],
    };
    const frames = parse(run([twoChoices]));
    assert.deepEqual(frames.slice(2, 5), [textStart(0), textDelta(0, 'A'), blockStop(0)]);
  });

  it('a stream with no chunks still makes a complete, empty message', () => {
    assert.deepEqual(parse(run([])), [messageStart(0, 'msg_spillway'), ping, messageDelta('end_turn', { output_tokens: 0 }), messageStop]);
  });

  it('finish() is idempotent and push() after it produces nothing', () => {
    const translator = new AnthropicStreamTranslator({ model: 'claude-sonnet-4-5' });
    translator.push(chunk({ content: 'x' }));
    assert.deepEqual(parse(translator.finish()), [blockStop(0), messageDelta('end_turn', { output_tokens: 0 }), messageStop]);
    assert.equal(translator.done, true);
    assert.deepEqual(translator.finish(), []);
    assert.deepEqual(translator.push(chunk({ content: 'y' })), []);
  });

  it('a failure mid-stream is an Anthropic error event, and nothing follows it', () => {
    const translator = new AnthropicStreamTranslator({ model: 'claude-sonnet-4-5' });
    assert.equal(translator.started, false);
    const before = parse(translator.push(chunk({ content: 'partial' })));
    assert.equal(translator.started, true);
    assert.deepEqual(before, [messageStart(), ping, textStart(0), textDelta(0, 'partial')]);
    const frames = translator.error(503, { message: 'All providers are overloaded.', type: 'service_unavailable', code: 'overloaded' });
    assert.deepEqual(frames, ['event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"All providers are overloaded."}}\n\n']);
    assert.deepEqual(translator.finish(), []);
    assert.deepEqual(translator.push(chunk({ content: 'more' })), []);
    assert.deepEqual(translator.error(500, { message: 'again' }), []);
  });
});

describe('AnthropicStreamTranslator, read by the official @anthropic-ai/sdk', () => {
  function client(body: string): Anthropic {
    return new Anthropic({
      apiKey: 'sk-ant-test',
      baseURL: 'http://spillway.invalid',
      maxRetries: 0,
      fetch: () => Promise.resolve(new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } })),
    });
  }

  it('the SDK assembles a mixed stream into the Message chatToAnthropic would give', async () => {
    const stream = client(run(mixedChunks).join('')).messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Weather?' }] });
    const message = await stream.finalMessage();
    assert.equal(message.id, 'msg_abc');
    assert.equal(message.model, 'claude-sonnet-4-5');
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(
      message.content.map((b) => (b.type === 'text' ? { type: b.type, text: b.text } : b.type === 'tool_use' ? { type: b.type, id: b.id, name: b.name, input: b.input } : { type: b.type })),
      [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_01B', name: 'get_time', input: { tz: 'CET' } },
      ],
    );
    assert.equal(message.usage.input_tokens, 44);
    assert.equal(message.usage.output_tokens, 40);
    assert.equal(message.usage.cache_read_input_tokens, 256);
  });

  it('the SDK raises the error event as an APIError of the mapped type', async () => {
    const translator = new AnthropicStreamTranslator({ model: 'claude-sonnet-4-5' });
    const body = [...translator.push(chunk({ content: 'partial' })), ...translator.error(429, { message: 'Slow down.' })].join('');
    const stream = await client(body).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of stream) seen.push(event.type);
      })(),
      (err: unknown) => err instanceof Anthropic.APIError && (err.error as { error?: { type?: string } }).error?.type === 'rate_limit_error' && err.message.includes('Slow down.'),
    );
    assert.deepEqual(seen, ['message_start', 'content_block_start', 'content_block_delta']);
  });
});
