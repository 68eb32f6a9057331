import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { failureClassSchema, type FailureClass } from '#libs/contracts/envelope.ts';
import { openAIErrorSchema } from '#libs/contracts/openai-error.ts';
import { UpstreamError } from '#libs/providers/provider.ts';
import { classify } from './classify.ts';
import { failureResponse } from './failure-response.ts';

function upstream(status: number, body: unknown, headers: Record<string, string> = {}): UpstreamError {
  return new UpstreamError(`upstream answered ${status}`, { status, phase: 'response', body, headers });
}

const allClasses: readonly FailureClass[] = failureClassSchema.options;

describe('failureResponse: every class', () => {
  const expected: Record<FailureClass, { status: number; type: string }> = {
    rate_limited: { status: 429, type: 'rate_limit_error' },
    overloaded: { status: 503, type: 'service_unavailable' },
    server: { status: 502, type: 'upstream_error' },
    network: { status: 502, type: 'upstream_error' },
    timeout: { status: 504, type: 'timeout_error' },
    auth: { status: 502, type: 'upstream_error' },
    client: { status: 400, type: 'invalid_request_error' },
    context_length: { status: 400, type: 'invalid_request_error' },
    content_filter: { status: 400, type: 'invalid_request_error' },
    cancelled: { status: 499, type: 'invalid_request_error' },
    deadline_exceeded: { status: 504, type: 'timeout_error' },
    internal: { status: 500, type: 'server_error' },
  };
  for (const failure of allClasses) {
    it(`${failure} without an upstream error has the gateway's status and an OpenAI-shaped error`, () => {
      const res = failureResponse(failure);
      assert.equal(res.httpStatus, expected[failure].status);
      assert.equal(res.error.type, expected[failure].type);
      assert.ok(openAIErrorSchema.safeParse(res.error).success);
      assert.ok(res.error.message.length > 0);
      assert.equal(typeof res.error.code, 'string');
      assert.equal(res.error.param, null);
      assert.deepEqual(res.headers, {});
    });
  }

  it('gives each class its own code', () => {
    const codes = allClasses.map((c) => failureResponse(c).error.code);
    assert.equal(new Set(codes).size, allClasses.length);
  });

  it('appends the detail to the gateway message', () => {
    const plain = failureResponse('server').error.message;
    const detailed = failureResponse('server', undefined, 'openai/gpt-4o').error.message;
    assert.equal(detailed, `${plain}: openai/gpt-4o`);
  });
});

describe('failureResponse: caller faults pass the provider error through', () => {
  it('client: the upstream OpenAI error and status reach the caller', () => {
    const body = { error: { message: "Invalid value for 'temperature': 3 is greater than 2", type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } };
    const err = upstream(400, body);
    assert.equal(classify(err), 'client');
    const res = failureResponse('client', err);
    assert.equal(res.httpStatus, 400);
    assert.deepEqual(res.error, body.error);
    assert.deepEqual(res.headers, {});
  });

  it('client: a 404 keeps its status', () => {
    const body = { error: { message: 'The model `gpt-9` does not exist', type: 'invalid_request_error', param: null, code: 'model_not_found' } };
    const res = failureResponse('client', upstream(404, body));
    assert.equal(res.httpStatus, 404);
    assert.deepEqual(res.error, body.error);
  });

  it('context_length: the upstream message passes through', () => {
    const body = { error: { message: "This model's maximum context length is 8192 tokens.", type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } };
    const err = upstream(400, body);
    assert.equal(classify(err), 'context_length');
    const res = failureResponse('context_length', err);
    assert.equal(res.httpStatus, 400);
    assert.deepEqual(res.error, body.error);
  });

  it('content_filter: the upstream message passes through', () => {
    const body = { error: { message: 'The response was filtered due to the content_filter.', type: 'invalid_request_error', param: 'prompt', code: 'content_filter' } };
    const err = upstream(400, body);
    assert.equal(classify(err), 'content_filter');
    const res = failureResponse('content_filter', err);
    assert.equal(res.httpStatus, 400);
    assert.deepEqual(res.error, body.error);
  });

  it('missing type, param and code are filled with OpenAI defaults', () => {
    const res = failureResponse('client', upstream(422, { error: { message: 'unprocessable', param: 7, code: 3 } }));
    assert.equal(res.httpStatus, 422);
    assert.deepEqual(res.error, { message: 'unprocessable', type: 'invalid_request_error', param: null, code: null });
  });

  it('a caller fault whose body is not an OpenAI error gets the gateway message', () => {
    for (const body of ['<html>Bad Request</html>', { error: 'just a string' }, { error: { code: 'no_message' } }, null]) {
      const res = failureResponse('client', upstream(400, body));
      assert.equal(res.httpStatus, 400);
      assert.equal(res.error.message, failureResponse('client').error.message);
      assert.ok(openAIErrorSchema.safeParse(res.error).success);
    }
  });
});

describe('failureResponse: other classes never show the upstream message', () => {
  const secret = 'sk-abc123';
  const leakyBody = { error: { message: `Incorrect API key provided: ${secret}. You can find your API key at https://platform.openai.com.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } };

  it('an upstream 401 that echoes the key does not leak it', () => {
    const err = upstream(401, leakyBody);
    const failure = classify(err);
    assert.equal(failure, 'auth');
    const res = failureResponse(failure, err);
    assert.equal(res.httpStatus, 502);
    assert.equal(res.error.code, 'upstream_auth_failed');
    assert.ok(!JSON.stringify(res).includes(secret), JSON.stringify(res));
    assert.ok(!JSON.stringify(res).includes('Incorrect API key'));
  });

  for (const failure of allClasses.filter((c) => !['client', 'context_length', 'content_filter'].includes(c))) {
    it(`${failure}: the upstream body is replaced by the gateway's word`, () => {
      const res = failureResponse(failure, upstream(500, leakyBody, { 'retry-after': '3' }));
      assert.ok(!JSON.stringify(res).includes(secret));
      assert.equal(res.error.message, failureResponse(failure).error.message);
      assert.equal(res.httpStatus, failureResponse(failure).httpStatus);
    });
  }
});

describe('failureResponse: retry-after', () => {
  it('a 429 carries the upstream retry-after', () => {
    const err = upstream(429, { error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' } }, { 'retry-after': '20' });
    const res = failureResponse(classify(err), err);
    assert.equal(res.httpStatus, 429);
    assert.deepEqual(res.headers, { 'retry-after': '20' });
  });

  it('a 429 without an upstream retry-after carries none', () => {
    const res = failureResponse('rate_limited', upstream(429, null));
    assert.equal(res.httpStatus, 429);
    assert.deepEqual(res.headers, {});
  });

  it('other classes do not carry retry-after even when upstream sent it', () => {
    const res = failureResponse('overloaded', upstream(503, null, { 'retry-after': '5' }));
    assert.equal(res.httpStatus, 503);
    assert.deepEqual(res.headers, {});
  });
});
