// Pins the fake's wire format against the official @anthropic-ai/sdk, so gateway tests that use the
// fake are testing against what Anthropic really sends.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, { APIConnectionError, APIError, AuthenticationError, BadRequestError, OverloadedError, RateLimitError } from '@anthropic-ai/sdk';
import { request } from 'undici';
import { startFakeAnthropic, type FakeAnthropic } from './anthropic-upstream.ts';
import { withStandalone } from './standalone-child.ts';

const user = (content: string): Anthropic.MessageParam => ({ role: 'user', content });

const rawHeaders: Record<string, string> = { 'x-api-key': 'sk-ant-raw', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };

/** A raw POST /v1/messages, for bodies and headers the SDK would not send. */
async function rawMessages(url: string, body: unknown, headers = rawHeaders): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(`${url}/v1/messages`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => assert.fail('expected the call to fail'), (e: unknown) => e);
}

describe('fake Anthropic upstream', () => {
  let fake: FakeAnthropic;
  let client: Anthropic;

  before(async () => {
    fake = await startFakeAnthropic();
    client = new Anthropic({ baseURL: fake.url, apiKey: 'sk-ant-test', maxRetries: 0 });
  });
  after(() => fake.close());

  it('answers a message with Echo of the last user turn, Anthropic usage and headers', async () => {
    const { data, response } = await client.messages
      .create({ model: 'claude-sonnet-4-5', max_tokens: 100, system: 'be brief', messages: [user('hello there  world')] })
      .withResponse();
    assert.match(data.id, /^msg_01[A-Za-z0-9]{22}$/);
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.equal(data.model, 'claude-sonnet-4-5');
    assert.deepEqual(data.content, [{ type: 'text', text: 'Echo: hello there  world' }]);
    assert.equal(data.stop_reason, 'end_turn');
    assert.equal(data.stop_sequence, null);
    assert.deepEqual(data.usage, {
      input_tokens: 5,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens: 4,
      service_tier: 'standard',
    });
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.match(response.headers.get('request-id') ?? '', /^req_011C/);
    assert.match(response.headers.get('anthropic-ratelimit-requests-reset') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(response.headers.get('anthropic-ratelimit-requests-limit'), '4000');
    const recorded = fake.requests.at(-1);
    assert.equal(recorded?.apiKey, 'sk-ant-test');
    assert.match(String(recorded?.headers['anthropic-version']), /^\d{4}-\d\d-\d\d$/);
    assert.equal(recorded?.path, '/v1/messages');
  });

  it('streams the full event sequence, which the SDK assembles into the same message', async () => {
    const stream = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [user('one two'), { role: 'assistant', content: 'ok' }, user('three four')], stream: true });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      if (event.type === 'message_delta') {
        assert.equal(event.delta.stop_reason, 'end_turn');
        assert.equal(event.usage.output_tokens, 3);
        assert.equal(event.usage.input_tokens, 5);
      }
    }
    assert.equal(text, 'Echo: three four');
    assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);

    const final = await client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [user('a b')] }).finalMessage();
    assert.deepEqual(final.content.map((b) => b.type === 'text' && b.text), ['Echo: a b']);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, 3);
  });

  it('frames SSE bytes exactly, with one ping after the first block opens', async () => {
    const { status, headers, text } = await rawMessages(fake.url, { model: 'claude-haiku-4-5', max_tokens: 10, messages: [user('x')], stream: true });
    assert.equal(status, 200);
    assert.equal(headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(headers['cache-control'], 'no-cache');
    const events = text.split('\n\n');
    assert.equal(events.pop(), '');
    for (const e of events) assert.match(e, /^event: [a-z_]+\ndata: [^\n]+$/);
    assert.deepEqual(events.map((e) => /^event: ([a-z_]+)/.exec(e)?.[1]), [
      'message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop',
    ]);
    assert.equal(events[2], 'event: ping\ndata: {"type": "ping"}');
    const start = JSON.parse(events[0].split('\ndata: ')[1]) as { message: Record<string, unknown> };
    assert.deepEqual(Object.keys(start.message), ['id', 'type', 'role', 'model', 'content', 'stop_reason', 'stop_sequence', 'usage']);
    assert.deepEqual(start.message.content, []);
    assert.equal(start.message.stop_reason, null);
  });

  it('returns thinking, text and tool_use blocks from a reply override, plain and streamed', async () => {
    fake.reply = () => ({ thinking: 'let me see', text: 'Checking.', toolCalls: [{ name: 'get_weather', input: { city: 'Paris', unit: 'c' } }] });
    try {
      const plain = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [user('weather?')] });
      assert.equal(plain.stop_reason, 'tool_use');
      assert.deepEqual(plain.content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
      const call = plain.content[2];
      assert.ok(call.type === 'tool_use');
      assert.match(call.id, /^toolu_01[A-Za-z0-9]{22}$/);
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(call.input, { city: 'Paris', unit: 'c' });

      const final = await client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [user('weather?')] }).finalMessage();
      assert.deepEqual(final.content.map((b) => b.type), ['thinking', 'text', 'tool_use']);
      const thinking = final.content[0];
      assert.ok(thinking.type === 'thinking');
      assert.equal(thinking.thinking, 'let me see');
      assert.ok(thinking.signature.length > 0);
      const streamed = final.content[2];
      assert.ok(streamed.type === 'tool_use');
      assert.deepEqual(streamed.input, { city: 'Paris', unit: 'c' });
      assert.equal(final.stop_reason, 'tool_use');
    } finally {
      fake.reply = undefined;
    }
  });

  it('reports cache usage from a reply override', async () => {
    fake.reply = () => ({ cacheCreationInputTokens: 30, cacheReadInputTokens: 1200 });
    try {
      const res = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [user('hi')] });
      assert.equal(res.usage.cache_creation_input_tokens, 30);
      assert.equal(res.usage.cache_read_input_tokens, 1200);
      assert.equal(res.usage.input_tokens, 1);
    } finally {
      fake.reply = undefined;
    }
  });

  it('cuts the text at max_tokens and at a stop sequence, with the matching stop reason', async () => {
    const long = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 2, messages: [user('a b c d')] });
    assert.deepEqual(long.content, [{ type: 'text', text: 'Echo: a ' }]);
    assert.equal(long.stop_reason, 'max_tokens');
    const stopped = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 100, stop_sequences: ['d', 'c d'], messages: [user('a b c d')] });
    assert.deepEqual(stopped.content, [{ type: 'text', text: 'Echo: a b ' }]);
    assert.equal(stopped.stop_reason, 'stop_sequence');
    assert.equal(stopped.stop_sequence, 'c d');
  });

  it('accepts a tool_result that answers the previous turn and echoes its content', async () => {
    const res = await client.messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: [
        user('weather?'),
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'w', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] },
      ],
    });
    assert.deepEqual(res.content, [{ type: 'text', text: 'Echo: sunny' }]);
  });

  it('rejects what Anthropic rejects, with its invalid_request_error messages', async () => {
    const cases: [unknown, string][] = [
      [{ model: 'm', messages: [user('x')] }, 'max_tokens: Field required'],
      [{ model: 'm', max_tokens: 5, messages: [{ role: 'system', content: 'x' }] }, 'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.'],
      [{ model: 'm', max_tokens: 5, messages: [user('x')], n: 2 }, 'n: Extra inputs are not permitted'],
      [{ model: 'm', max_tokens: 5, messages: [user('x')], temperature: 1.5 }, 'temperature: Input should be less than or equal to 1'],
      [{ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }, 'messages: text content blocks must be non-empty'],
      [
        { model: 'm', max_tokens: 5, messages: [user('x'), { role: 'assistant', content: 'y' }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: 'z' }] }] },
        'messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
      ],
      [
        { model: 'm', max_tokens: 5, messages: [user('x'), { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_8', name: 'f', input: {} }] }, user('z')] },
        'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_8. Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
      ],
    ];
    for (const [body, message] of cases) {
      const res = await rawMessages(fake.url, body);
      assert.equal(res.status, 400, message);
      const parsed = JSON.parse(res.text) as { type: string; error: { type: string; message: string }; request_id: string };
      assert.equal(parsed.type, 'error');
      assert.deepEqual(parsed.error, { type: 'invalid_request_error', message });
      assert.match(parsed.request_id, /^req_011C/);
    }
    const { 'anthropic-version': _version, ...unversioned } = rawHeaders;
    const noVersion = await rawMessages(fake.url, { model: 'm', max_tokens: 5, messages: [user('x')] }, unversioned);
    assert.equal(noVersion.status, 400);
    assert.equal((JSON.parse(noVersion.text) as { error: { message: string } }).error.message, 'anthropic-version: header is required');
  });

  it('surfaces a rate-limit fault as RateLimitError with retry-after and the exhausted reset header', async () => {
    const resetAt = new Date(Date.now() + 7_000);
    fake.enqueue({ kind: 'rate-limit', retryAfterSeconds: 7, resetAt, limit: 'input-tokens' });
    const err = await rejection(client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [user('hi')] }));
    assert.ok(err instanceof RateLimitError);
    assert.equal(err.type, 'rate_limit_error');
    assert.equal(err.headers.get('retry-after'), '7');
    assert.equal(err.headers.get('anthropic-ratelimit-input-tokens-remaining'), '0');
    assert.equal(err.headers.get('anthropic-ratelimit-input-tokens-reset'), resetAt.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    assert.equal(err.headers.get('anthropic-ratelimit-requests-remaining'), '3999');

    fake.enqueue({ kind: 'rate-limit' });
    const bare = await rejection(client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [user('hi')] }));
    assert.ok(bare instanceof RateLimitError);
    assert.equal(bare.headers.get('retry-after'), null);
    assert.equal(bare.headers.get('anthropic-ratelimit-requests-remaining'), '0');
  });

  it('gives a 529 the overloaded_error body', async () => {
    fake.enqueue({ kind: 'status', status: 529 });
    const err = await rejection(client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [user('hi')] }));
    assert.ok(err instanceof OverloadedError);
    assert.equal(err.type, 'overloaded_error');
    assert.equal(err.apiMessage, 'Overloaded');
  });

  it('rejects keys outside validKeys with 401 authentication_error, and a missing key too', async () => {
    const strict = await startFakeAnthropic({ validKeys: ['sk-ant-good'] });
    try {
      const bad = new Anthropic({ baseURL: strict.url, apiKey: 'sk-ant-bad-key-123', maxRetries: 0 });
      const err = await rejection(bad.messages.create({ model: 'm', max_tokens: 5, messages: [user('x')] }));
      assert.ok(err instanceof AuthenticationError);
      assert.equal(err.type, 'authentication_error');
      assert.equal(err.apiMessage, 'invalid x-api-key');
      assert.equal(strict.requests[0].apiKey, 'sk-ant-bad-key-123');
      assert.equal(strict.requests[0].fault, undefined);

      const { 'x-api-key': _key, ...keyless } = rawHeaders;
      const missing = await rawMessages(strict.url, { model: 'm', max_tokens: 5, messages: [user('x')] }, keyless);
      assert.equal(missing.status, 401);
      assert.equal((JSON.parse(missing.text) as { error: { message: string } }).error.message, 'x-api-key header is required');

      const good = new Anthropic({ baseURL: strict.url, apiKey: 'sk-ant-good', maxRetries: 0 });
      const models = await good.models.list();
      assert.ok(models.data.some((m) => m.id === 'claude-sonnet-4-5'));
    } finally {
      await strict.close();
    }
  });

  it('makes the SDK stream throw on a disconnect fault, after the first events', async () => {
    fake.enqueue({ kind: 'disconnect', afterEvents: 3 });
    const stream = await client.messages.create({ model: 'm', max_tokens: 50, messages: [user('one two three')], stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const event of stream) if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    });
    // content_block_start, ping, then the first text delta.
    assert.equal(text, 'Echo: ');
  });

  it('makes the SDK stream throw an APIError of the given type on an in-band error', async () => {
    fake.enqueue({ kind: 'in-band-error', afterEvents: 2 });
    const stream = await client.messages.create({ model: 'm', max_tokens: 50, messages: [user('one two three')], stream: true });
    const err = await rejection((async () => {
      for await (const _ of stream) { /* drain */ }
    })());
    assert.ok(err instanceof APIError);
    assert.equal(err.type, 'overloaded_error');
    assert.equal(err.apiMessage, 'Overloaded');

    fake.enqueue({ kind: 'in-band-error', afterEvents: 0, errorType: 'api_error', message: 'boom' });
    const plain = await rejection(client.messages.create({ model: 'm', max_tokens: 50, messages: [user('x')] }));
    assert.ok(plain instanceof APIError);
    assert.equal(plain.status, 500);
    assert.equal(plain.apiMessage, 'boom');
  });

  it('fails the connection on a reset fault', async () => {
    fake.enqueue({ kind: 'reset' });
    await assert.rejects(client.messages.create({ model: 'm', max_tokens: 5, messages: [user('hi')] }), APIConnectionError);
  });

  it('keeps a stalled stream open until the client aborts', async () => {
    fake.enqueue({ kind: 'stall', afterEvents: 1 });
    const controller = new AbortController();
    const stream = await client.messages.create({ model: 'm', max_tokens: 50, messages: [user('a b c')], stream: true }, { signal: controller.signal });
    // The SDK ends an aborted stream quietly; what matters is that nothing after the first block start arrived.
    const seen: string[] = [];
    for await (const event of stream) {
      seen.push(event.type);
      if (seen.length === 2) controller.abort();
    }
    assert.deepEqual(seen, ['message_start', 'content_block_start']);
  });

  it('passes a status fault body and headers through as given', async () => {
    fake.enqueue({ kind: 'status', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' } }, headers: { 'x-test': '1' } });
    const err = await rejection(client.messages.create({ model: 'm', max_tokens: 5, messages: [user('hi')] }));
    assert.ok(err instanceof BadRequestError);
    assert.equal(err.apiMessage, 'prompt is too long: 210000 tokens > 200000 maximum');
    assert.equal(err.headers.get('x-test'), '1');
  });

  it('lets tests await arrivals instead of polling, and applies the default fault when the queue is empty', async () => {
    const before = fake.requests.length;
    const arrival = fake.nextRequest();
    const counted = fake.waitForRequests(before + 2);
    fake.setDefault({ kind: 'status', status: 500 });
    try {
      fake.enqueue({ kind: 'ok' });
      await client.messages.create({ model: 'm', max_tokens: 5, messages: [user('hi')] });
      const first = await arrival;
      assert.equal(first.path, '/v1/messages');
      assert.deepEqual(first.fault, { kind: 'ok' });
      await assert.rejects(client.messages.create({ model: 'm', max_tokens: 5, messages: [user('hi')] }), (e: unknown) => e instanceof APIError && e.status === 500);
      await counted;
      assert.deepEqual(fake.requests.at(-1)?.fault, { kind: 'status', status: 500 });
    } finally {
      fake.setDefault(undefined);
    }
  });
});

describe('fake Anthropic upstream, standalone', () => {
  it('prints its URL, serves, and exits on SIGTERM', async () => {
    const code = await withStandalone(new URL('./anthropic-upstream.ts', import.meta.url), 'FAKE_ANTHROPIC_URL', async (url) => {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const client = new Anthropic({ baseURL: url, apiKey: 'sk-ant-test', maxRetries: 0 });
      const res = await client.messages.create({ model: 'm', max_tokens: 5, messages: [user('ping')] });
      assert.deepEqual(res.content, [{ type: 'text', text: 'Echo: ping' }]);
    });
    assert.equal(code, 0);
  });
});

describe('fake Anthropic upstream, with latency and token interval', () => {
  it('streams the same text through its timers, and close() ends a stalled stream', async () => {
    const slow = await startFakeAnthropic({ latencyMs: 5, tokenIntervalMs: 1 });
    try {
      const client = new Anthropic({ baseURL: slow.url, apiKey: 'sk-ant-test', maxRetries: 0 });
      const final = await client.messages.stream({ model: 'm', max_tokens: 50, messages: [user('one two three')] }).finalMessage();
      assert.deepEqual(final.content, [{ type: 'text', text: 'Echo: one two three' }]);

      slow.enqueue({ kind: 'stall', afterEvents: 2 });
      const stalled = await client.messages.create({ model: 'm', max_tokens: 50, messages: [user('one two three')], stream: true });
      const drained = (async () => {
        for await (const _ of stalled) { /* drain until the socket dies */ }
      })();
      await slow.close();
      await assert.rejects(drained);
    } finally {
      await slow.close();
    }
  });
});
