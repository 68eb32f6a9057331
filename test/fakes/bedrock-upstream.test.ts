// Pins the fake's wire format against AWS's own libraries: requests are signed with
// @smithy/signature-v4 (the fake verifies them with its own node:crypto SigV4), and streams are
// decoded with @smithy/eventstream-codec (the fake encodes them by hand).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Sha256 } from '@aws-crypto/sha256-js';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { SignatureV4 } from '@smithy/signature-v4';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { request } from 'undici';
import { expectedSignature, parseSigV4Authorization, startFakeBedrock } from './bedrock-upstream.ts';
import type { AwsTestCredentials, FakeBedrock } from './bedrock-upstream.ts';
import { withStandalone } from './standalone-child.ts';

const creds: AwsTestCredentials = { accessKeyId: 'AKIDFAKEBEDROCK01', secretAccessKey: 'fake/secret+key/for-tests-only-0123456789' };
const tempCreds: AwsTestCredentials = { accessKeyId: 'ASIAFAKEBEDROCK02', secretAccessKey: 'another-fake-secret', sessionToken: 'FwoGZXIvYXdzEFAKE//token' };
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const codec = new EventStreamCodec(toUtf8, fromUtf8);

interface Sent {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The sizes of the body chunks as the client read them. */
  reads: number[];
}

async function send(fake: FakeBedrock, path: string, body: unknown, auth: { creds?: AwsTestCredentials; region?: string; bearer?: string; tamper?: boolean } = {}): Promise<Sent> {
  const url = new URL(fake.url + path);
  const payload = JSON.stringify(body);
  let headers: Record<string, string> = { host: url.host, 'content-type': 'application/json' };
  if (auth.bearer !== undefined) headers.authorization = `Bearer ${auth.bearer}`;
  else if (auth.creds) {
    const signer = new SignatureV4({ service: 'bedrock', region: auth.region ?? 'us-east-1', credentials: auth.creds, sha256: Sha256 });
    const signed = await signer.sign({ method: 'POST', protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {}, headers, body: payload });
    headers = signed.headers;
  }
  const res = await request(url, { method: 'POST', headers, body: auth.tamper ? payload.replace('}', ' }') : payload });
  const chunks: Buffer[] = [];
  const reads: number[] = [];
  for await (const piece of res.body) {
    chunks.push(piece as Buffer);
    reads.push((piece as Buffer).length);
  }
  return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), reads };
}

function frames(bytes: Buffer): { headers: Record<string, string>; payload: unknown }[] {
  const out: { headers: Record<string, string>; payload: unknown }[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const total = bytes.readUInt32BE(offset);
    const message = codec.decode(bytes.subarray(offset, offset + total));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers)) headers[k] = String(v.value);
    out.push({ headers, payload: JSON.parse(Buffer.from(message.body).toString('utf8')) });
    offset += total;
  }
  return out;
}

/** Event payloads without Bedrock's random `p` padding, for exact comparison. */
function unpadded(payload: unknown): unknown {
  const { p, ...rest } = payload as Record<string, unknown>;
  assert.ok(p === undefined || (typeof p === 'string' && p.length > 0));
  return rest;
}

const hello = { messages: [{ role: 'user', content: [{ text: 'hello there  world' }] }] };
const converse = `/model/${encodeURIComponent(MODEL)}/converse`;
const converseStream = `/model/${encodeURIComponent(MODEL)}/converse-stream`;

void describe('fake Bedrock upstream', () => {
  let fake: FakeBedrock;

  before(async () => {
    fake = await startFakeBedrock({ credentials: [creds, tempCreds], validKeys: ['bedrock-api-key-good'] });
  });
  after(() => fake.close());

  void it('answers Converse with Echo of the last user message in Bedrock\'s JSON and headers', async () => {
    const res = await send(fake, converse, { system: [{ text: 'be brief' }], ...hello }, { creds });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.match(String(res.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
    const body = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual({ ...body, metrics: undefined }, {
      metrics: undefined,
      output: { message: { content: [{ text: 'Echo: hello there  world' }], role: 'assistant' } },
      stopReason: 'end_turn',
      usage: { inputTokens: 5, outputTokens: 4, totalTokens: 9 },
    });
    assert.equal(typeof (body.metrics as { latencyMs: unknown }).latencyMs, 'number');
    const recorded = fake.requests.at(-1);
    assert.equal(recorded?.modelId, MODEL);
    assert.equal(recorded?.operation, 'converse');
    assert.equal(recorded?.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
    assert.deepEqual(recorded?.auth, {
      scheme: 'sigv4', accessKeyId: creds.accessKeyId, date: recorded?.auth?.scheme === 'sigv4' ? recorded.auth.date : '', region: 'us-east-1', service: 'bedrock',
      signedHeaders: ['content-type', 'host', 'x-amz-content-sha256', 'x-amz-date'], sessionToken: undefined, verified: true,
    });
  });

  void it('verifies a session-token signature and records the token', async () => {
    const res = await send(fake, converse, hello, { creds: tempCreds });
    assert.equal(res.status, 200);
    const auth = fake.requests.at(-1)?.auth;
    assert.ok(auth?.scheme === 'sigv4' && auth.verified && auth.sessionToken === tempCreds.sessionToken);
    assert.ok(auth.signedHeaders.includes('x-amz-security-token'));
  });

  void it('rejects a signature made with the wrong secret, a changed body, another region, or an unknown key id', async () => {
    const cases: [Sent, number, string][] = [
      [await send(fake, converse, hello, { creds: { ...creds, secretAccessKey: 'wrong' } }), 403, 'InvalidSignatureException'],
      [await send(fake, converse, hello, { creds: { ...creds }, tamper: true }), 400, 'XAmzContentSHA256Mismatch'],
      [await send(fake, converse, hello, { creds, region: 'eu-west-1' }), 403, 'InvalidSignatureException'],
      [await send(fake, converse, hello, { creds: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'x' } }), 403, 'UnrecognizedClientException'],
      [await send(fake, converse, hello), 403, 'MissingAuthenticationTokenException'],
    ];
    for (const [res, status, type] of cases) {
      assert.equal(res.status, status, type);
      assert.equal(res.headers['x-amzn-errortype'], `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`);
      assert.equal(typeof (JSON.parse(res.body.toString('utf8')) as { message: unknown }).message, 'string');
    }
  });

  void it('computes the signature the AWS signer computes, from the spec alone', async () => {
    const signer = new SignatureV4({ service: 'bedrock', region: 'us-east-1', credentials: creds, sha256: Sha256 });
    const headers = { host: 'bedrock-runtime.us-east-1.amazonaws.com', 'content-type': 'application/json', accept: 'application/json' };
    const body = '{"messages":[]}';
    const signed = await signer.sign({ method: 'POST', protocol: 'https:', hostname: headers.host, path: '/model/a.b-v1%3A0/converse', query: {}, headers, body }, { signingDate: new Date('2024-05-30T12:34:56Z') });
    const parsed = parseSigV4Authorization(signed.headers.authorization);
    assert.ok(parsed);
    const mine = expectedSignature({ method: 'POST', path: '/model/a.b-v1%3A0/converse', query: '', headers: signed.headers, body: Buffer.from(body) }, parsed, creds.secretAccessKey);
    assert.equal(mine, parsed.signature);
  });

  void it('accepts a valid Bedrock API key as a bearer token and refuses others with 403', async () => {
    assert.equal((await send(fake, converse, hello, { bearer: 'bedrock-api-key-good' })).status, 200);
    assert.deepEqual(fake.requests.at(-1)?.auth, { scheme: 'bearer', key: 'bedrock-api-key-good' });
    const bad = await send(fake, converse, hello, { bearer: 'bedrock-api-key-bad' });
    assert.equal(bad.status, 403);
    assert.match(String(bad.headers['x-amzn-errortype']), /^AccessDeniedException:/);
  });

  void it('streams ConverseStream as event-stream frames the AWS codec decodes: text, then metadata', async () => {
    const res = await send(fake, converseStream, hello, { creds });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/vnd.amazon.eventstream');
    const decoded = frames(res.body);
    for (const f of decoded) assert.deepEqual(Object.keys(f.headers).sort(), [':content-type', ':event-type', ':message-type']);
    assert.ok(decoded.every((f) => f.headers[':message-type'] === 'event' && f.headers[':content-type'] === 'application/json'));
    assert.deepEqual(decoded.map((f) => [f.headers[':event-type'], f.headers[':event-type'] === 'metadata' ? { usage: (f.payload as { usage: unknown }).usage } : unpadded(f.payload)]), [
      ['messageStart', { role: 'assistant' }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Echo: ' } }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'hello ' } }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'there  ' } }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'world' } }],
      ['contentBlockStop', { contentBlockIndex: 0 }],
      ['messageStop', { stopReason: 'end_turn' }],
      ['metadata', { usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 } }],
    ]);
  });

  void it('streams tool use as contentBlockStart plus input fragments, and answers it whole on Converse', async () => {
    fake.reply = () => ({ toolUses: [{ name: 'get_weather', input: { city: 'Paris' }, toolUseId: 'tooluse_fixed' }] });
    try {
      const stream = frames((await send(fake, converseStream, hello, { creds })).body);
      assert.deepEqual(stream.slice(1, -2).map((f) => [f.headers[':event-type'], unpadded(f.payload)]), [
        ['contentBlockStart', { contentBlockIndex: 0, start: { toolUse: { name: 'get_weather', toolUseId: 'tooluse_fixed' } } }],
        ['contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: '{"city":' } } }],
        ['contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: '"Paris"}' } } }],
        ['contentBlockStop', { contentBlockIndex: 0 }],
      ]);
      assert.deepEqual(unpadded(stream.at(-2)?.payload), { stopReason: 'tool_use' });
      const whole = JSON.parse((await send(fake, converse, hello, { creds })).body.toString('utf8')) as { output: unknown; stopReason: string };
      assert.deepEqual(whole.output, { message: { content: [{ toolUse: { toolUseId: 'tooluse_fixed', name: 'get_weather', input: { city: 'Paris' } } }], role: 'assistant' } });
      assert.equal(whole.stopReason, 'tool_use');
    } finally {
      fake.reply = undefined;
    }
  });

  void it('ends an in-band-error stream with an exception frame after N events', async () => {
    fake.enqueue({ kind: 'in-band-error', afterEvents: 2, exception: 'throttlingException' });
    const decoded = frames((await send(fake, converseStream, hello, { creds })).body);
    assert.deepEqual(decoded.map((f) => f.headers[':event-type'] ?? f.headers[':exception-type']), ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'throttlingException']);
    const last = decoded.at(-1);
    assert.deepEqual(last?.headers, { ':exception-type': 'throttlingException', ':content-type': 'application/json', ':message-type': 'exception' });
    assert.deepEqual(last?.payload, { message: 'Too many requests, please wait before trying again.' });
  });

  void it('gives status faults Bedrock\'s error header and {message} body', async () => {
    fake.enqueue({ kind: 'rate-limit' }, { kind: 'status', status: 429, errorType: 'ModelNotReadyException' }, { kind: 'status', status: 503 });
    const expected: [number, string, string][] = [
      [429, 'ThrottlingException', 'Too many requests, please wait before trying again.'],
      [429, 'ModelNotReadyException', 'Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.'],
      [503, 'ServiceUnavailableException', 'Bedrock is unable to process your request.'],
    ];
    for (const [status, type, message] of expected) {
      const res = await send(fake, converse, hello, { creds });
      assert.equal(res.status, status);
      assert.equal(res.headers['x-amzn-errortype'], `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`);
      assert.deepEqual(JSON.parse(res.body.toString('utf8')), { message });
    }
  });

  void it('validates the body as Bedrock does: first turn user, alternating roles, no blank text, toolConfig with tool blocks', async () => {
    const bodies: [unknown, RegExp][] = [
      [{ messages: [{ role: 'assistant', content: [{ text: 'hi' }] }] }, /must start with a user message/],
      [{ messages: [{ role: 'user', content: [{ text: 'a' }] }, { role: 'user', content: [{ text: 'b' }] }] }, /must alternate/],
      [{ messages: [{ role: 'user', content: [{ text: ' ' }] }] }, /is blank/],
      [{ messages: [{ role: 'user', content: [{ toolResult: { toolUseId: 't', content: [{ text: 'x' }] } }] }] }, /toolConfig field must be defined/],
    ];
    const before = fake.requests.length;
    fake.enqueue({ kind: 'rate-limit' });
    for (const [body, message] of bodies) {
      const res = await send(fake, converse, body, { creds });
      assert.equal(res.status, 400);
      assert.match(String(res.headers['x-amzn-errortype']), /^ValidationException:/);
      assert.match((JSON.parse(res.body.toString('utf8')) as { message: string }).message, message);
    }
    assert.equal(fake.requests.length, before + bodies.length);
    // Invalid bodies took no fault: the queued one is still waiting.
    assert.equal((await send(fake, converse, hello, { creds })).status, 429);
  });

  void it('writes a stream in pieces of the given sizes, so reads end mid-frame at those offsets', async () => {
    const sizes = [1, 3, 7, 20];
    fake.writeSizes = sizes;
    try {
      const res = await send(fake, converseStream, hello, { creds });
      assert.equal(frames(res.body).length, 8);
      // A slow reader may get several pieces in one read, but never part of one.
      const pieceEnds = new Set<number>();
      let written = 0;
      for (let i = 0; written < res.body.length; i++) {
        written = Math.min(written + sizes[i % sizes.length], res.body.length);
        pieceEnds.add(written);
      }
      let end = 0;
      for (const n of res.reads) assert.ok(pieceEnds.has((end += n)), `a read ended at ${end}, inside a piece`);
      assert.ok(res.reads.length > 8, `only ${res.reads.length} reads`);
    } finally {
      fake.writeSizes = undefined;
    }
  });

  void it('cuts the socket on disconnect after N events, and on reset before any byte', async () => {
    fake.enqueue({ kind: 'disconnect', afterEvents: 1 }, { kind: 'reset' });
    await assert.rejects(send(fake, converseStream, hello, { creds }));
    await assert.rejects(send(fake, converse, hello, { creds }));
  });

  void it('keeps a stalled stream open until the client aborts, and lets tests await arrivals', async () => {
    fake.enqueue({ kind: 'stall', afterEvents: 1 });
    const arrived = fake.nextRequest();
    const controller = new AbortController();
    const url = new URL(fake.url + converseStream);
    const res = await request(url, { method: 'POST', headers: { authorization: 'Bearer bedrock-api-key-good', 'content-type': 'application/json' }, body: JSON.stringify(hello), signal: controller.signal });
    assert.equal((await arrived).fault?.kind, 'stall');
    const iterator = res.body[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.done, false);
    const pending = iterator.next();
    controller.abort();
    await assert.rejects(pending);
  });

  void it('answers unknown paths with 404 and applies the default fault when the queue is empty', async () => {
    assert.equal((await send(fake, '/model/x/invoke', hello, { creds })).status, 404);
    fake.setDefault({ kind: 'status', status: 500 });
    try {
      const res = await send(fake, converse, hello, { creds });
      assert.equal(res.status, 500);
      assert.match(String(res.headers['x-amzn-errortype']), /^InternalServerException:/);
    } finally {
      fake.setDefault(undefined);
    }
  });

  void it('prints its URL, serves, and exits on SIGTERM', async () => {
    const code = await withStandalone(new URL('./bedrock-upstream.ts', import.meta.url), 'FAKE_BEDROCK_URL', async (url) => {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await request(`${url}${converse}`, { method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: JSON.stringify(hello) });
      assert.equal(res.statusCode, 200);
      await res.body.text();
    });
    assert.equal(code, 0);
  });
});
