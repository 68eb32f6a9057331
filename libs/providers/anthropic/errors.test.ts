import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classify } from '#libs/routing/classify.ts';
import { failureResponse } from '#libs/routing/failure-response.ts';
import { UpstreamError } from '../provider.ts';
import { statusForErrorType, toOpenAIErrorBody, withRetryAfter } from './errors.ts';

describe('statusForErrorType', () => {
  it('gives each Anthropic error type its HTTP status, and 500 to types it does not know', () => {
    assert.equal(statusForErrorType('invalid_request_error'), 400);
    assert.equal(statusForErrorType('authentication_error'), 401);
    assert.equal(statusForErrorType('billing_error'), 402);
    assert.equal(statusForErrorType('permission_error'), 403);
    assert.equal(statusForErrorType('not_found_error'), 404);
    assert.equal(statusForErrorType('request_too_large'), 413);
    assert.equal(statusForErrorType('rate_limit_error'), 429);
    assert.equal(statusForErrorType('api_error'), 500);
    assert.equal(statusForErrorType('timeout_error'), 504);
    assert.equal(statusForErrorType('overloaded_error'), 529);
    assert.equal(statusForErrorType('toString'), 500);
  });
});

describe('toOpenAIErrorBody', () => {
  it('keeps the type and message, and uses the type as the code', () => {
    assert.deepEqual(toOpenAIErrorBody({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_1' }), {
      error: { message: 'Overloaded', type: 'overloaded_error', param: null, code: 'overloaded_error' },
    });
  });

  it("uses details.error_code as the code when Anthropic names the cause", () => {
    const body = { type: 'error', error: { type: 'rate_limit_error', message: 'spend limit', details: { error_code: 'enforced_spend_limit_reached' } } };
    assert.deepEqual(toOpenAIErrorBody(body), { error: { message: 'spend limit', type: 'rate_limit_error', param: null, code: 'enforced_spend_limit_reached' } });
  });

  it('leaves bodies of any other shape as they came', () => {
    assert.equal(toOpenAIErrorBody('<html>bad gateway</html>'), '<html>bad gateway</html>');
    assert.deepEqual(toOpenAIErrorBody({ message: 'x' }), { message: 'x' });
  });

  it('masks the call key wherever the upstream echoed it', () => {
    const body = { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key: sk-ant-secret-123' } };
    assert.deepEqual(toOpenAIErrorBody(body, 'sk-ant-secret-123'), {
      error: { message: 'invalid x-api-key: [redacted]', type: 'authentication_error', param: null, code: 'authentication_error' },
    });
    assert.equal(toOpenAIErrorBody('key sk-ant-secret-123 refused', 'sk-ant-secret-123'), 'key [redacted] refused');
  });

  it('lets classify see a prompt-too-long 400 as context_length, and the failure response pass it through', () => {
    const body = toOpenAIErrorBody({ type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' } });
    const err = new UpstreamError('anthropic answered 400', { status: 400, phase: 'response', body });
    assert.equal(classify(err), 'context_length');
    assert.deepEqual(failureResponse('context_length', err), {
      httpStatus: 400,
      error: { message: 'prompt is too long: 210000 tokens > 200000 maximum', type: 'invalid_request_error', param: null, code: 'invalid_request_error' },
      headers: {},
      passedThrough: true,
    });
  });
});

describe('withRetryAfter', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  const limited = (headers: Record<string, string>, status = 429): UpstreamError => new UpstreamError('anthropic answered 429', { status, phase: 'response', headers, keyId: 'k1' });

  it('derives retry-after in whole seconds from the exhausted limit reset', () => {
    const err = withRetryAfter(
      limited({
        'anthropic-ratelimit-requests-remaining': '10',
        'anthropic-ratelimit-requests-reset': '2025-06-01T12:00:30Z',
        'anthropic-ratelimit-input-tokens-remaining': '0',
        'anthropic-ratelimit-input-tokens-reset': '2025-06-01T12:00:04.200Z',
      }),
      now,
    );
    assert.equal(err.headers['retry-after'], '5');
    assert.equal(err.status, 429);
    assert.equal(err.keyId, 'k1');
  });

  it("keeps Anthropic's own retry-after", () => {
    const original = limited({ 'retry-after': '12', 'anthropic-ratelimit-requests-reset': '2025-06-01T12:00:30Z' });
    assert.equal(withRetryAfter(original, now), original);
  });

  it('leaves other statuses, and 429s with no reset header, as they are', () => {
    const overloaded = limited({ 'anthropic-ratelimit-requests-reset': '2025-06-01T12:00:30Z' }, 529);
    assert.equal(withRetryAfter(overloaded, now), overloaded);
    const bare = limited({});
    assert.equal(withRetryAfter(bare, now), bare);
  });
});
