// Bad input gets a clear 4xx in OpenAI's error shape and never reaches a provider.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { modes, startTestGateway, type TestGateway } from '#test/support/gateway.ts';

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

for (const mode of modes) {
  describe(`bad input (${mode})`, () => {
    let upstream: FakeOpenAI;
    let gateway: TestGateway;
    let client: OpenAI;

    before(async () => {
      upstream = await startFakeOpenAI();
      gateway = await startTestGateway({
        mode,
        config: {
          server: { bodyLimitBytes: 64 * 1024 },
          providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
        },
      });
      client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
    });

    after(async () => {
      await gateway?.close(1_000);
      await upstream?.close();
    });

    async function post(path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; body: ErrorBody; headers: Headers }> {
      const res = await fetch(`${gateway.url}${path}`, { method: 'POST', headers, body });
      return { status: res.status, body: (await res.json()) as ErrorBody, headers: res.headers };
    }

    function assertErrorShape(body: ErrorBody): void {
      assert.deepEqual(Object.keys(body), ['error']);
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(typeof body.error.message, 'string');
    }

    it('answers malformed JSON with 400', async () => {
      const res = await post('/v1/chat/completions', '{"model": "gpt-4o-mini", "messages": [');
      assert.equal(res.status, 400);
      assertErrorShape(res.body);
      assert.equal(res.body.error.code, 'invalid_json');
      assert.match(res.body.error.message, /could not parse the JSON body/);
    });

    it('answers a missing field with 400 naming it', async () => {
      const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini' }));
      assert.equal(res.status, 400);
      assertErrorShape(res.body);
      assert.equal(res.body.error.param, 'messages');
      assert.equal(res.body.error.message, "Missing required parameter: 'messages'.");
    });

    it('answers a wrongly typed field with 400 naming its path', async () => {
      const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'wizard', content: 'hi' }] }));
      assert.equal(res.status, 400);
      assert.equal(res.body.error.param, 'messages[0].role');
      assert.match(res.body.error.message, /^Invalid value for 'messages\[0\]\.role'/);
      const typed = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], temperature: 'hot' }));
      assert.equal(typed.status, 400);
      assert.equal(typed.body.error.param, 'temperature');
    });

    it('answers a body that is not an object with 400', async () => {
      const res = await post('/v1/chat/completions', '[1, 2, 3]');
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, 'invalid_request_body');
    });

    it('answers an unknown model with 404 model_not_found through the SDK', async () => {
      await assert.rejects(client.chat.completions.create({ model: 'nope/unknown-model', messages: [{ role: 'user', content: 'hi' }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.NotFoundError);
        assert.equal(err.code, 'model_not_found');
        assert.equal(err.param, 'model');
        return true;
      });
    });

    /** Asserts that `call` fails with an SDK APIError of `status` in OpenAI's shape, and returns it. */
    async function sdkError(call: Promise<unknown>, status: number): Promise<InstanceType<typeof OpenAI.APIError>> {
      let caught: unknown;
      await assert.rejects(call, (err: unknown) => {
        caught = err;
        return true;
      });
      assert.ok(caught instanceof OpenAI.APIError, `an APIError, not ${String(caught)}`);
      assert.equal(caught.status, status);
      assert.equal(typeof caught.error, 'object', 'the SDK parsed an OpenAI error body');
      return caught;
    }

    it('answers a schema violation through the SDK with 400 and the field in error.param', async () => {
      const outOfRange = await sdkError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], temperature: 5 }), 400);
      assert.ok(outOfRange instanceof OpenAI.BadRequestError);
      assert.equal(outOfRange.param, 'temperature');
      const empty = await sdkError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [] }), 400);
      assert.equal(empty.param, 'messages');
      // What the SDK's types would not let create() send, its generic post() does.
      const wrongRole = await sdkError(client.post('/chat/completions', { body: { model: 'gpt-4o-mini', messages: [{ role: 'wizard', content: 'hi' }] } }), 400);
      assert.equal(wrongRole.param, 'messages[0].role');
    });

    it('answers a body over the limit through the SDK with 413 request_too_large', async () => {
      const err = await sdkError(client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }] }), 413);
      assert.equal(err.code, 'request_too_large');
    });

    it('answers an unknown path (404 unknown_url) and a wrong method (405 with Allow) through the SDK', async () => {
      const unknown = await sdkError(client.get('/nothing-here'), 404);
      assert.ok(unknown instanceof OpenAI.NotFoundError);
      assert.equal(unknown.code, 'unknown_url');
      const wrongMethod = await sdkError(client.get('/chat/completions'), 405);
      assert.equal(wrongMethod.code, 'method_not_allowed');
      assert.equal(wrongMethod.headers?.get('allow'), 'POST');
    });

    it('answers a body over the configured limit with 413', async () => {
      const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }] }));
      assert.equal(res.status, 413);
      assertErrorShape(res.body);
      assert.equal(res.body.error.code, 'request_too_large');
      assert.match(res.body.error.message, /65536 bytes/);
    });

    it('answers a non-JSON content type with 415', async () => {
      const res = await post('/v1/chat/completions', 'hello', { 'content-type': 'text/plain' });
      assert.equal(res.status, 415);
      assertErrorShape(res.body);
    });

    it('answers a wrong method with 405 and Allow', async () => {
      const res = await fetch(`${gateway.url}/v1/chat/completions`);
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      assertErrorShape((await res.json()) as ErrorBody);
    });

    it('answers an unknown path with 404', async () => {
      const res = await fetch(`${gateway.url}/v1/nothing-here`);
      assert.equal(res.status, 404);
      const body = (await res.json()) as ErrorBody;
      assertErrorShape(body);
      assert.equal(body.error.code, 'unknown_url');
    });

    it('answers an unknown request id with 404', async () => {
      const res = await fetch(`${gateway.url}/v1/requests/req_0000000000000000000000000`);
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as ErrorBody).error.code, 'request_not_found');
    });

    it('answers a bad timeout header with 400', async () => {
      const res = await post('/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }), {
        'content-type': 'application/json',
        'x-spillway-timeout-ms': 'soon',
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.param, 'x-spillway-timeout-ms');
    });

    it('sent none of the bad requests upstream', () => {
      assert.equal(upstream.requests.length, 0);
    });
  });
}
