// The Bedrock adapter against the wire-exact fake: SigV4 and API-key auth, Converse, ConverseStream
// (text, tool use, frames cut anywhere), and every failure routing has to tell apart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChatChunk, ChatRequest } from '#libs/contracts/chat.ts';
import { classify } from '#libs/routing/classify.ts';
import { failureResponse } from '#libs/routing/failure-response.ts';
import { encodeFrame, startFakeBedrock, type AwsTestCredentials, type FakeBedrock } from '#test/fakes/bedrock-upstream.ts';
import { StreamAssembler } from '../stream-assembler.ts';
import { UpstreamError, type CallOptions } from '../provider.ts';
import { BedrockAdapter } from './adapter.ts';
import { bedrockProviderSchema } from './config.ts';

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const creds: AwsTestCredentials = { accessKeyId: 'AKIDADAPTERTEST01', secretAccessKey: 'adapter/test+secret/0123456789abcdef' };
const API_KEY = 'bedrock-api-key-adapter-test-SECRET';

function options(overrides: Partial<CallOptions> = {}): CallOptions {
  return { signal: AbortSignal.timeout(10_000), model: MODEL, timeouts: { connectMs: 2_000, firstByteMs: 5_000, idleMs: 5_000 }, ...overrides };
}

const hello: ChatRequest = { model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hello there  world' }] };

async function collect(chunks: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

/** Reads a stream until it fails, returning what arrived before the failure and the failure. */
async function collectUntilFailure(chunks: AsyncIterable<ChatChunk>): Promise<{ received: ChatChunk[]; error: UpstreamError }> {
  const received: ChatChunk[] = [];
  try {
    for await (const c of chunks) received.push(c);
  } catch (err) {
    assert.ok(err instanceof UpstreamError, `expected an UpstreamError, got ${String(err)}`);
    return { received, error: err };
  }
  assert.fail('expected the stream to fail');
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof UpstreamError, `expected an UpstreamError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

function textOf(chunks: ChatChunk[]): string {
  return chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
}

void describe('BedrockAdapter', () => {
  let fake: FakeBedrock;
  let adapter: BedrockAdapter;

  before(async () => {
    fake = await startFakeBedrock({ credentials: [creds], validKeys: [API_KEY] });
    adapter = new BedrockAdapter('bedrock', bedrockProviderSchema.parse({ type: 'bedrock', region: 'us-east-1', baseUrl: fake.url, accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, models: ['anthropic.*'] }));
  });
  after(async () => {
    await adapter.close();
    await fake.close();
  });

  void it('calls Converse with a SigV4 signature the fake verifies, and answers a chat.completion', async () => {
    const { value, keyId } = await adapter.complete(hello, options());
    assert.equal(keyId, undefined);
    const recorded = fake.requests.at(-1);
    assert.equal(recorded?.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
    assert.ok(recorded?.auth?.scheme === 'sigv4' && recorded.auth.verified, 'signature verified by re-signing');
    assert.match(String(recorded.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDADAPTERTEST01\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/);
    assert.deepEqual(recorded.body, { messages: [{ role: 'user', content: [{ text: 'hello there  world' }] }], system: [{ text: 'Be brief.' }] });
    assert.match(value.id, /^chatcmpl-[0-9a-f-]{36}$/);
    assert.deepEqual({ ...value, id: '', created: 0 }, {
      id: '',
      object: 'chat.completion',
      created: 0,
      model: MODEL,
      choices: [{ index: 0, message: { role: 'assistant', content: 'Echo: hello there  world' }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
    });
  });

  void it('sends a Bedrock API key as a bearer token when routing chose one', async () => {
    const { keyId } = await adapter.complete(hello, options({ key: { id: 'key-1', secret: API_KEY } }));
    assert.equal(keyId, 'key-1');
    assert.deepEqual(fake.requests.at(-1)?.auth, { scheme: 'bearer', key: API_KEY });
  });

  void it('never puts a rejected API key into the error', async () => {
    const err = await failure(adapter.complete(hello, options({ key: { id: 'key-bad', secret: 'bedrock-api-key-WRONG-SECRET' } })));
    assert.equal(err.status, 403);
    assert.equal(classify(err), 'auth');
    assert.equal(err.keyId, 'key-bad');
    assert.doesNotMatch(JSON.stringify({ message: err.message, body: err.body, headers: err.headers }), /WRONG-SECRET/);
  });

  void it('streams ConverseStream text as chunks: role first, deltas, finish_reason, then usage', async () => {
    const call = await adapter.stream(hello, options());
    const chunks = await collect(call.chunks);
    assert.equal(fake.requests.at(-1)?.operation, 'converse-stream');
    assert.deepEqual(chunks.map((c) => c.choices[0]?.delta ?? null), [
      { role: 'assistant', content: '' },
      { content: 'Echo: ' },
      { content: 'hello ' },
      { content: 'there  ' },
      { content: 'world' },
      {},
      null,
    ]);
    assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.deepEqual(chunks.at(-1)?.usage, { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === MODEL));
  });

  void it('streams tool use with tool-call indexes counted from 0 and arguments that reassemble', async () => {
    fake.reply = () => ({
      text: 'Checking both.',
      toolUses: [
        { name: 'get_weather', input: { city: 'Paris', units: 'metric' }, toolUseId: 'tooluse_paris' },
        { name: 'get_weather', input: { city: 'Rome' }, toolUseId: 'tooluse_rome' },
      ],
    });
    try {
      const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
      const chunks = await collect((await adapter.stream({ ...hello, tools, tool_choice: 'auto' }, options())).chunks);
      assert.deepEqual((fake.requests.at(-1)?.body as { toolConfig: unknown }).toolConfig, {
        tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } } } } } }],
        toolChoice: { auto: {} },
      });
      const starts = chunks.flatMap((c) => (c.choices[0]?.delta.tool_calls as { index: number; id?: string }[] | undefined) ?? []).filter((t) => t.id);
      assert.deepEqual(starts.map((t) => [t.index, t.id]), [[0, 'tooluse_paris'], [1, 'tooluse_rome']]);
      const assembler = new StreamAssembler();
      for (const c of chunks) assembler.add(c);
      const completion = assembler.completion();
      assert.deepEqual(completion.choices[0], {
        index: 0,
        message: {
          role: 'assistant',
          content: 'Checking both.',
          tool_calls: [
            { id: 'tooluse_paris', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","units":"metric"}' } },
            { id: 'tooluse_rome', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ],
        },
        logprobs: null,
        finish_reason: 'tool_calls',
      });
    } finally {
      fake.reply = undefined;
    }
  });

  void it('decodes event-stream frames split across TCP writes at awkward byte offsets', async () => {
    fake.reply = () => ({ text: 'Splitting frames is fine — even ☃ multi-byte text.', toolUses: [{ name: 'lookup', input: { q: 'ünïcödé', n: 3 }, toolUseId: 'tooluse_split' }] });
    try {
      for (const sizes of [[1], [2, 5], [3, 7, 11, 13], [15, 16, 17], [97, 1, 200]]) {
        fake.writeSizes = sizes;
        const assembler = new StreamAssembler();
        for (const c of await collect((await adapter.stream({ ...hello, tools: [{ type: 'function', function: { name: 'lookup' } }] }, options())).chunks)) assembler.add(c);
        const choice = assembler.completion().choices[0] as unknown as { message: { content: string; tool_calls: { function: { arguments: string } }[] }; finish_reason: string };
        assert.equal(choice.message.content, 'Splitting frames is fine — even ☃ multi-byte text.', `write sizes ${sizes.join(',')}`);
        assert.equal(choice.message.tool_calls[0].function.arguments, '{"q":"ünïcödé","n":3}');
        assert.equal(choice.finish_reason, 'tool_calls');
        assert.ok(assembler.getUsage());
      }
    } finally {
      fake.writeSizes = undefined;
      fake.reply = undefined;
    }
  });

  void it('turns a throttlingException mid-stream into a 429 UpstreamError after the events before it', async () => {
    fake.enqueue({ kind: 'in-band-error', afterEvents: 2, exception: 'throttlingException' });
    const { received, error } = await collectUntilFailure((await adapter.stream(hello, options())).chunks);
    assert.equal(textOf(received), 'Echo: hello ');
    assert.equal(error.status, 429);
    assert.equal(error.phase, 'stream');
    assert.equal(classify(error), 'rate_limited');
    assert.deepEqual(error.body, { error: { message: 'Too many requests, please wait before trying again.', type: 'rate_limit_error', param: null, code: 'ThrottlingException' } });
  });

  void it('maps the other stream exceptions to the statuses routing retries or passes through', async () => {
    const cases: ['modelStreamErrorException' | 'internalServerException' | 'serviceUnavailableException' | 'validationException', number, string][] = [
      ['modelStreamErrorException', 500, 'server'],
      ['internalServerException', 500, 'server'],
      ['serviceUnavailableException', 503, 'overloaded'],
      ['validationException', 400, 'client'],
    ];
    for (const [exception, status, failureClass] of cases) {
      fake.enqueue({ kind: 'in-band-error', afterEvents: 0, exception });
      const { error } = await collectUntilFailure((await adapter.stream(hello, options())).chunks);
      assert.equal(error.status, status, exception);
      assert.equal(classify(error), failureClass, exception);
    }
  });

  void it('turns a 429 ThrottlingException into rate_limited with an OpenAI-shaped body', async () => {
    fake.enqueue({ kind: 'rate-limit' });
    const err = await failure(adapter.complete(hello, options()));
    assert.equal(err.status, 429);
    assert.equal(err.phase, 'response');
    assert.equal(classify(err), 'rate_limited');
    assert.deepEqual(err.body, { error: { message: 'Too many requests, please wait before trying again.', type: 'rate_limit_error', param: null, code: 'ThrottlingException' } });
    assert.match(err.headers['x-amzn-errortype'] ?? '', /^ThrottlingException:/);
  });

  void it('treats ModelNotReadyException (Bedrock\'s 429) as overloaded, not as a rate limit on the key', async () => {
    fake.enqueue({ kind: 'status', status: 429, errorType: 'ModelNotReadyException' });
    const err = await failure(adapter.complete(hello, options()));
    assert.equal(err.status, 503);
    assert.equal(classify(err), 'overloaded');
    assert.equal((err.body as { error: { code: string } }).error.code, 'ModelNotReadyException');
  });

  void it('gives a ValidationException the OpenAI body the client sees passed through', async () => {
    const err = await failure(adapter.complete({ model: MODEL, messages: [{ role: 'assistant', content: 'I speak first' }] }, options()));
    assert.equal(err.status, 400);
    assert.equal(classify(err), 'client');
    const expected = { message: 'A conversation must start with a user message. Try again with a conversation that starts with a user message.', type: 'invalid_request_error', param: null, code: 'ValidationException' };
    assert.deepEqual(err.body, { error: expected });
    assert.deepEqual(failureResponse('client', err), { httpStatus: 400, error: expected, headers: {}, passedThrough: true });
  });

  void it('maps the remaining HTTP exceptions: 503, 403, 404, 408 and a too-long input', async () => {
    const cases: [Parameters<FakeBedrock['enqueue']>[0], number, string][] = [
      [{ kind: 'status', status: 503 }, 503, 'overloaded'],
      [{ kind: 'status', status: 403 }, 403, 'auth'],
      [{ kind: 'status', status: 404 }, 404, 'client'],
      [{ kind: 'status', status: 408 }, 408, 'timeout'],
      [{ kind: 'status', status: 400, message: 'Input is too long for requested model.' }, 400, 'context_length'],
    ];
    for (const [fault, status, failureClass] of cases) {
      fake.enqueue(fault);
      const err = await failure(adapter.complete(hello, options()));
      assert.equal(err.status, status);
      assert.equal(classify(err), failureClass, `${status} → ${failureClass}`);
    }
  });

  void it('reports a disconnect mid-stream as a network failure after the events before it', async () => {
    fake.enqueue({ kind: 'disconnect', afterEvents: 1 });
    const { received, error } = await collectUntilFailure((await adapter.stream(hello, options())).chunks);
    assert.equal(textOf(received), 'Echo: ');
    assert.equal(error.status, undefined);
    assert.equal(classify(error), 'network');
  });

  void it('reports a reset before any byte as a network failure', async () => {
    fake.enqueue({ kind: 'reset' });
    const err = await failure(adapter.complete(hello, options()));
    assert.equal(classify(err), 'network');
  });

  void it('cancels a stalled stream when the call is aborted', async () => {
    fake.enqueue({ kind: 'stall', afterEvents: 1 });
    const controller = new AbortController();
    const call = await adapter.stream(hello, options({ signal: controller.signal }));
    const iterator = call.chunks[Symbol.asyncIterator]();
    assert.deepEqual((await iterator.next()).value?.choices[0].delta, { role: 'assistant', content: '' });
    assert.deepEqual((await iterator.next()).value?.choices[0].delta, { content: 'Echo: ' });
    const pending = iterator.next();
    controller.abort();
    const err = await failure(pending);
    assert.equal(classify(err), 'cancelled');
  });

  void it('refuses an http image URL with a 400 before calling Bedrock', async () => {
    const before = fake.requests.length;
    const err = await failure(adapter.complete({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] }, options()));
    assert.equal(err.status, 400);
    assert.equal(classify(err), 'client');
    assert.match((err.body as { error: { message: string } }).error.message, /Bedrock needs images inline/);
    assert.equal(fake.requests.length, before);
  });

  void it('serves the models its config names', () => {
    assert.equal(adapter.type, 'bedrock');
    assert.equal(adapter.serves('anthropic.claude-3-haiku-20240307-v1:0'), true);
    assert.equal(adapter.serves('gpt-4o'), false);
    assert.deepEqual(adapter.listModels(), []);
  });
});

void describe('BedrockAdapter with temporary credentials and the AWS chain', () => {
  const temp: AwsTestCredentials = { accessKeyId: 'ASIAADAPTERTEST02', secretAccessKey: 'temporary/secret', sessionToken: 'IQoJb3JpZ2luX2VjEFAKE' };
  let fake: FakeBedrock;

  before(async () => {
    fake = await startFakeBedrock({ region: 'eu-central-1', credentials: [temp] });
  });
  after(() => fake.close());

  void it('signs with a session token from config', async () => {
    const adapter = new BedrockAdapter('bedrock-eu', bedrockProviderSchema.parse({ type: 'bedrock', region: 'eu-central-1', baseUrl: fake.url, ...temp }));
    try {
      await adapter.complete(hello, options());
      const auth = fake.requests.at(-1)?.auth;
      assert.ok(auth?.scheme === 'sigv4' && auth.verified && auth.sessionToken === temp.sessionToken && auth.region === 'eu-central-1');
    } finally {
      await adapter.close();
    }
  });

  void it('falls back to the standard AWS credential chain (here the environment) when config has no keys', async () => {
    const env: Record<string, string | undefined> = { AWS_ACCESS_KEY_ID: temp.accessKeyId, AWS_SECRET_ACCESS_KEY: temp.secretAccessKey, AWS_SESSION_TOKEN: temp.sessionToken, AWS_EC2_METADATA_DISABLED: 'true' };
    const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
    Object.assign(process.env, env);
    const adapter = new BedrockAdapter('bedrock-chain', bedrockProviderSchema.parse({ type: 'bedrock', region: 'eu-central-1', baseUrl: fake.url }));
    try {
      const call = await adapter.stream(hello, options());
      assert.equal(textOf(await collect(call.chunks)), 'Echo: hello there  world');
      const auth = fake.requests.at(-1)?.auth;
      assert.ok(auth?.scheme === 'sigv4' && auth.verified && auth.accessKeyId === temp.accessKeyId);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await adapter.close();
    }
  });
});

void describe('BedrockAdapter against a hand-rolled broken server', () => {
  let server: Server;
  let url = '';
  let respond: (res: ServerResponse) => void = (res) => res.end();

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => respond(res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const adapterFor = (): BedrockAdapter => new BedrockAdapter('bedrock', bedrockProviderSchema.parse({ type: 'bedrock', region: 'us-east-1', baseUrl: url, accessKeyId: 'AKID', secretAccessKey: 'secret' }));
  const event = (type: string, payload: unknown): Buffer => encodeFrame({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, Buffer.from(JSON.stringify(payload)));

  void it('calls a stream that ends cleanly before messageStop truncated', async () => {
    respond = (res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      res.end(Buffer.concat([event('messageStart', { role: 'assistant' }), event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Half' } })]));
    };
    const adapter = adapterFor();
    try {
      const { received, error } = await collectUntilFailure((await adapter.stream(hello, options())).chunks);
      assert.equal(textOf(received), 'Half');
      assert.equal(error.phase, 'stream');
      assert.match(error.message, /closed the stream before messageStop and metadata/);
      assert.equal(classify(error), 'network');
    } finally {
      await adapter.close();
    }
  });

  void it('calls a frame with a bad checksum a 502', async () => {
    respond = (res) => {
      const bad = event('messageStart', { role: 'assistant' });
      bad[bad.length - 1] ^= 0xff;
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      res.end(bad);
    };
    const adapter = adapterFor();
    try {
      const { error } = await collectUntilFailure((await adapter.stream(hello, options())).chunks);
      assert.equal(error.status, 502);
      assert.match(error.message, /corrupt event stream frame/);
    } finally {
      await adapter.close();
    }
  });

  void it('calls a 200 that is not a Converse response a 502', async () => {
    respond = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"unexpected":true}');
    };
    const adapter = adapterFor();
    try {
      const err = await failure(adapter.complete(hello, options()));
      assert.equal(err.status, 502);
      assert.equal(classify(err), 'server');
    } finally {
      await adapter.close();
    }
  });

  void it('reads an unmodelled error frame (:error-code, :error-message) as a server failure', async () => {
    respond = (res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      res.end(Buffer.concat([
        event('messageStart', { role: 'assistant' }),
        encodeFrame({ ':message-type': 'error', ':error-code': 'InternalFailure', ':error-message': 'Something broke' }, Buffer.alloc(0)),
      ]));
    };
    const adapter = adapterFor();
    try {
      const { error } = await collectUntilFailure((await adapter.stream(hello, options())).chunks);
      assert.equal(error.status, 500);
      assert.equal((error.body as { error: { message: string } }).error.message, 'Something broke');
    } finally {
      await adapter.close();
    }
  });
});
