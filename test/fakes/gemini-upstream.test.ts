// Pins the fake's wire format to what Google's Gemini API and Vertex AI send (bodies, SSE framing,
// error bodies, field validation), so adapter tests against the fake test against Google's format.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startFakeGemini, type FakeGemini } from './gemini-upstream.ts';
import { withStandalone } from './standalone-child.ts';

type Json = Record<string, unknown>;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

async function call(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

const hello = { contents: [{ role: 'user', parts: [{ text: 'hello  there' }] }] };
const sseEvents = (text: string): Json[] => {
  const events = text.split('\r\n\r\n');
  assert.equal(events.pop(), '');
  for (const e of events) assert.match(e, /^data: [^\r\n]+$/);
  return events.map((e) => JSON.parse(e.slice(6)) as Json);
};

void describe('fake Gemini upstream', () => {
  let fake: FakeGemini;
  let gemini: (action: string) => string;
  let vertex: (action: string) => string;
  const key = { 'x-goog-api-key': 'AIza-test' };
  const bearer = { authorization: 'Bearer ya29.test' };

  before(async () => {
    fake = await startFakeGemini({ validKeys: ['AIza-test'], validTokens: ['ya29.test'] });
    gemini = (action) => `${fake.url}/v1beta/models/gemini-2.5-flash:${action}`;
    vertex = (action) => `${fake.url}/v1/projects/acme/locations/us-central1/publishers/google/models/gemini-2.5-flash:${action}`;
  });
  after(() => fake.close());

  void it('answers generateContent with a GenerateContentResponse echoing the last user turn', async () => {
    const res = await call(gemini('generateContent'), { systemInstruction: { parts: [{ text: 'be brief' }] }, ...hello }, key);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=UTF-8');
    assert.equal(res.headers.server, 'scaffolding on HTTPServer2');
    const body = res.json as Json;
    assert.deepEqual(Object.keys(body), ['candidates', 'usageMetadata', 'modelVersion', 'responseId']);
    assert.deepEqual(body.candidates, [{ content: { parts: [{ text: 'Echo: hello  there' }], role: 'model' }, finishReason: 'STOP', index: 0 }]);
    assert.deepEqual(body.usageMetadata, { promptTokenCount: 4, candidatesTokenCount: 3, totalTokenCount: 7, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 4 }] });
    assert.equal(body.modelVersion, 'gemini-2.5-flash');
    assert.equal(typeof body.responseId, 'string');
    const req = fake.requests.at(-1);
    assert.equal(req?.api, 'gemini');
    assert.equal(req?.model, 'gemini-2.5-flash');
    assert.equal(req?.action, 'generateContent');
    assert.equal(req?.apiKey, 'AIza-test');
  });

  void it('takes the key from ?key= as well', async () => {
    const res = await call(`${gemini('generateContent')}?key=AIza-test`, hello);
    assert.equal(res.status, 200);
    assert.equal(fake.requests.at(-1)?.apiKey, 'AIza-test');
  });

  void it('rejects a missing key with 403 PERMISSION_DENIED and a wrong key with 400 API_KEY_INVALID, consuming no fault', async () => {
    fake.enqueue({ kind: 'status', status: 500 });
    const missing = await call(gemini('generateContent'), hello);
    assert.equal(missing.status, 403);
    assert.deepEqual(missing.json, { error: { code: 403, message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", status: 'PERMISSION_DENIED' } });
    const wrong = await call(gemini('generateContent'), hello, { 'x-goog-api-key': 'AIza-wrong' });
    assert.equal(wrong.status, 400);
    const error = (wrong.json as { error: Json }).error;
    assert.equal(error.status, 'INVALID_ARGUMENT');
    assert.equal(error.message, 'API key not valid. Please pass a valid API key.');
    assert.deepEqual((error.details as Json[])[0], { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } });
    assert.equal(fake.requests.at(-1)?.fault, undefined);
    assert.equal((await call(gemini('generateContent'), hello, key)).status, 500);
  });

  void it('frames streamGenerateContent?alt=sse as data: events with CRLF, the finishReason and full usage on the last, no [DONE]', async () => {
    const res = await call(`${gemini('streamGenerateContent')}?alt=sse`, { contents: [{ role: 'user', parts: [{ text: 'x y' }] }] }, key);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/event-stream');
    assert.equal(res.headers['content-disposition'], 'attachment');
    const events = sseEvents(res.text);
    assert.equal(events.length, 3);
    assert.deepEqual(events.map((e) => ((e.candidates as Json[])[0].content as { parts: Json[] }).parts[0].text), ['Echo: ', 'x ', 'y']);
    assert.deepEqual(events.map((e) => (e.candidates as Json[])[0].finishReason), [undefined, undefined, 'STOP']);
    assert.deepEqual(events[0].usageMetadata, { promptTokenCount: 2, totalTokenCount: 2, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 2 }] });
    assert.deepEqual(events[2].usageMetadata, { promptTokenCount: 2, candidatesTokenCount: 3, totalTokenCount: 5, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 2 }] });
    assert.equal(new Set(events.map((e) => e.responseId)).size, 1);
  });

  void it('streams one JSON array without alt=sse', async () => {
    const res = await call(gemini('streamGenerateContent'), hello, key);
    assert.equal(res.headers['content-type'], 'application/json; charset=UTF-8');
    const array = res.json as Json[];
    assert.ok(Array.isArray(array));
    assert.equal(array.length, 3);
  });

  void it("rejects fields Google does not know, as Google does, with the field's path", async () => {
    const res = await call(gemini('generateContent'), {
      ...hello,
      tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false } }] }],
    }, key);
    assert.equal(res.status, 400);
    assert.equal((res.json as { error: Json }).error.message, `Invalid JSON payload received. Unknown name "additionalProperties" at 'tools[0].function_declarations[0].parameters': Cannot find field.`);
    const topLevel = await call(gemini('generateContent'), { ...hello, messages: [] }, key);
    assert.equal((topLevel.json as { error: Json }).error.message, 'Invalid JSON payload received. Unknown name "messages": Cannot find field.');
    const snakeCase = await call(gemini('generateContent'), { ...hello, generation_config: { max_output_tokens: 5 } }, key);
    assert.equal(snakeCase.status, 200);
  });

  void it('rejects empty contents, empty parts, bad roles and OBJECT parameters without properties', async () => {
    const message = async (body: unknown, url = gemini('generateContent'), auth: Record<string, string> = key): Promise<unknown> => ((await call(url, body, auth)).json as { error: Json }).error.message;
    assert.equal(await message({ contents: [] }), '* GenerateContentRequest.contents: contents is not specified\n');
    assert.equal(await message({ contents: [{ role: 'user', parts: [] }] }), '* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n');
    assert.equal(await message({ contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] }), 'Please use a valid role: user, model.');
    assert.equal(await message({ contents: [{ parts: [{ text: 'x' }] }] }, vertex('generateContent'), bearer), 'Please use a valid role: user, model.');
    assert.equal(await message({ ...hello, tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'OBJECT', properties: {} } }] }] }), '* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties: should be non-empty for OBJECT type\n');
    assert.equal(await message('{not json'), 'Invalid JSON payload received. Unexpected token.');
    // A Gemini API content may leave the role out.
    assert.equal((await call(gemini('generateContent'), { contents: [{ parts: [{ text: 'x' }] }] }, key)).status, 200);
  });

  void it('serves Vertex paths with a bearer token, createTime and trafficType, and no candidate index in streams', async () => {
    const plain = await call(vertex('generateContent'), hello, bearer);
    assert.equal(plain.status, 200);
    const body = plain.json as Json;
    assert.equal(typeof body.createTime, 'string');
    assert.equal((body.usageMetadata as Json).trafficType, 'ON_DEMAND');
    const req = fake.requests.at(-1);
    assert.deepEqual([req?.api, req?.project, req?.location, req?.model, req?.bearer], ['vertex', 'acme', 'us-central1', 'gemini-2.5-flash', 'ya29.test']);

    const streamed = sseEvents((await call(`${vertex('streamGenerateContent')}?alt=sse`, hello, bearer)).text);
    for (const e of streamed) assert.equal('index' in (e.candidates as Json[])[0], false);

    const missing = await call(vertex('generateContent'), hello);
    assert.equal(missing.status, 401);
    const error = (missing.json as { error: Json }).error;
    assert.equal(error.status, 'UNAUTHENTICATED');
    assert.equal((error.details as Json[])[0].reason, 'CREDENTIALS_MISSING');
    assert.equal((await call(vertex('generateContent'), hello, { authorization: 'Bearer ya29.other' })).status, 401);
  });

  void it('sends a Gemini API 429 with QuotaFailure, Help and RetryInfo', async () => {
    fake.enqueue({ kind: 'rate-limit', retryDelay: '12s' });
    const res = await call(gemini('generateContent'), hello, key);
    assert.equal(res.status, 429);
    const error = (res.json as { error: Json }).error;
    assert.equal(error.code, 429);
    assert.equal(error.status, 'RESOURCE_EXHAUSTED');
    assert.match(String(error.message), /^You exceeded your current quota/);
    assert.deepEqual((error.details as Json[]).map((d) => d['@type']), [
      'type.googleapis.com/google.rpc.QuotaFailure',
      'type.googleapis.com/google.rpc.Help',
      'type.googleapis.com/google.rpc.RetryInfo',
    ]);
    assert.equal((error.details as Json[])[2].retryDelay, '12s');
    assert.equal(res.headers['retry-after'], undefined);
  });

  void it('gives status faults the Google error body of their status', async () => {
    fake.enqueue({ kind: 'status', status: 503 }, { kind: 'status', status: 500 });
    assert.deepEqual((await call(gemini('generateContent'), hello, key)).json, { error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } });
    assert.equal(((await call(gemini('generateContent'), hello, key)).json as { error: Json }).error.status, 'INTERNAL');
  });

  void it('returns function calls, a thought signature, and candidates per candidateCount from a reply override', async () => {
    fake.reply = () => ({ functionCalls: [{ name: 'get_weather', args: { city: 'Paris' } }], thoughtSignature: 'c2ln' });
    try {
      const res = await call(gemini('generateContent'), { ...hello, generationConfig: { candidateCount: 2 } }, key);
      const candidates = (res.json as Json).candidates as Json[];
      assert.equal(candidates.length, 2);
      assert.deepEqual(candidates[1], { content: { parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2ln' }], role: 'model' }, finishReason: 'STOP', index: 1 });
      const events = sseEvents((await call(`${gemini('streamGenerateContent')}?alt=sse`, hello, key)).text);
      assert.equal(events.length, 1);
      assert.equal((events[0].candidates as Json[])[0].finishReason, 'STOP');
    } finally {
      fake.reply = undefined;
    }
  });

  void it('blocks for safety: a SAFETY finish with blocked ratings, or promptFeedback and no candidates', async () => {
    fake.reply = () => ({ finishReason: 'SAFETY' });
    try {
      const stopped = ((await call(gemini('generateContent'), hello, key)).json as Json).candidates as Json[];
      assert.equal(stopped[0].finishReason, 'SAFETY');
      assert.equal(stopped[0].content, undefined);
      assert.ok((stopped[0].safetyRatings as Json[]).some((r) => r.blocked === true));
      fake.reply = () => ({ blockReason: 'SAFETY' });
      const blocked = (await call(gemini('generateContent'), hello, key)).json as Json;
      assert.equal(blocked.candidates, undefined);
      assert.equal((blocked.promptFeedback as Json).blockReason, 'SAFETY');
    } finally {
      fake.reply = undefined;
    }
  });

  void it('cuts, truncates, or errors a stream after N events, always before the finishReason', async () => {
    const url = `${gemini('streamGenerateContent')}?alt=sse`;
    const body = { contents: [{ role: 'user', parts: [{ text: 'a b c' }] }] };

    fake.enqueue({ kind: 'truncate', afterChunks: 99 });
    const truncated = sseEvents((await call(url, body, key)).text);
    assert.equal(truncated.length, 3);
    assert.equal(truncated.some((e) => (e.candidates as Json[])[0].finishReason !== undefined), false);

    fake.enqueue({ kind: 'in-band-error', afterChunks: 1, message: 'boom' });
    const errored = sseEvents((await call(url, body, key)).text);
    assert.equal(errored.length, 2);
    assert.deepEqual(errored[1], { error: { code: 500, message: 'boom', status: 'INTERNAL' } });

    fake.enqueue({ kind: 'disconnect', afterChunks: 1 });
    const res = await request(url, { method: 'POST', headers: { ...key, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text());

    fake.enqueue({ kind: 'reset' });
    await assert.rejects(call(url, body, key));
  });

  void it('lets tests await arrivals, and applies the default fault when the queue is empty', async () => {
    const before = fake.requests.length;
    const arrival = fake.nextRequest();
    const counted = fake.waitForRequests(before + 2);
    fake.setDefault({ kind: 'status', status: 503 });
    try {
      fake.enqueue({ kind: 'ok' });
      const [first, second] = await Promise.all([call(gemini('generateContent'), hello, key), call(gemini('generateContent'), hello, key)]);
      assert.deepEqual([first.status, second.status].sort(), [200, 503]);
      assert.equal((await arrival).action, 'generateContent');
      await counted;
    } finally {
      fake.setDefault(undefined);
    }
  });

  void it('lists models at GET /v1beta/models', async () => {
    const res = await request(`${fake.url}/v1beta/models`, { headers: key });
    const body = (await res.body.json()) as { models: Json[] };
    assert.deepEqual(body.models.map((m) => m.name), ['models/gemini-2.5-flash', 'models/gemini-2.5-pro', 'models/gemini-2.0-flash']);
  });
});

void describe('fake Gemini upstream, standalone', () => {
  void it('prints its URL, serves, and exits on SIGTERM', async () => {
    const code = await withStandalone(new URL('./gemini-upstream.ts', import.meta.url), 'FAKE_GEMINI_URL', async (url) => {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await call(`${url}/v1beta/models/gemini-2.5-flash:generateContent`, { contents: [{ parts: [{ text: 'ping' }] }] }, { 'x-goog-api-key': 'AIza-any' });
      assert.equal(((res.json as { candidates: { content: { parts: { text: string }[] } }[] }).candidates[0].content.parts[0].text), 'Echo: ping');
    });
    assert.equal(code, 0);
  });
});

void describe('fake Gemini upstream, with latency and token interval', () => {
  void it('streams the same text through its timers, and close() ends a stalled stream', async () => {
    const slow = await startFakeGemini({ latencyMs: 5, tokenIntervalMs: 1 });
    const url = `${slow.url}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse`;
    const headers = { 'x-goog-api-key': 'AIza-any', 'content-type': 'application/json' };
    const body = JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'one two three' }] }] });
    const events = sseEvents(await (await request(url, { method: 'POST', headers, body })).body.text());
    assert.equal(events.map((e) => ((e.candidates as Json[])[0].content as { parts: { text: string }[] }).parts[0].text).join(''), 'Echo: one two three');

    slow.enqueue({ kind: 'stall', afterChunks: 2 });
    const stalled = await request(url, { method: 'POST', headers, body });
    const drained = stalled.body.text();
    await slow.waitForRequests(2);
    await slow.close();
    await assert.rejects(drained);
  });
});
