import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { anthropicError, anthropicErrorType } from './errors.ts';

describe('anthropicError', () => {
  // The statuses and types of Anthropic's documented HTTP errors.
  for (const [status, type] of [
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [402, 'billing_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [413, 'request_too_large'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [504, 'timeout_error'],
    [529, 'overloaded_error'],
  ] as const) {
    it(`${status} is ${type}`, () => {
      assert.equal(anthropicErrorType(status), type);
    });
  }

  it('503, the gateway’s "no capacity", is overloaded_error, so SDKs treat it as Anthropic’s 529', () => {
    assert.equal(anthropicErrorType(503), 'overloaded_error');
  });

  it('a 502 from a provider is api_error', () => {
    assert.equal(anthropicErrorType(502), 'api_error');
  });

  it('other 4XX are invalid_request_error and other 5XX are api_error', () => {
    assert.equal(anthropicErrorType(409), 'invalid_request_error');
    assert.equal(anthropicErrorType(422), 'invalid_request_error');
    assert.equal(anthropicErrorType(408), 'invalid_request_error');
    assert.equal(anthropicErrorType(507), 'api_error');
  });

  it('renders the Anthropic error body from an OpenAI-shaped error, the type decided by status', () => {
    const err = new GatewayError(429, 'Rate limit reached for requests.', { code: 'rate_limit_exceeded' });
    assert.deepEqual(anthropicError(err.status, err.body), {
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Rate limit reached for requests.' },
    });
  });

  it('the deadline error (504 timeout_error, deadline_exceeded) keeps its message', () => {
    const body = anthropicError(504, { message: 'The request did not complete before its deadline.', type: 'timeout_error', code: 'deadline_exceeded' });
    assert.deepEqual(body, { type: 'error', error: { type: 'timeout_error', message: 'The request did not complete before its deadline.' } });
  });

  it('carries request_id when given', () => {
    assert.deepEqual(anthropicError(500, { message: 'boom' }, 'req_123'), { type: 'error', error: { type: 'api_error', message: 'boom' }, request_id: 'req_123' });
  });
});
