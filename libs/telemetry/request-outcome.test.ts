import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FailureClass, ResultEnvelope } from '#libs/contracts/envelope.ts';
import { failureResponse } from '#libs/routing/failure-response.ts';
import { requestOutcome, type RequestOutcome } from './request-outcome.ts';

function failedWith(failure: FailureClass, status?: number, code?: string): ResultEnvelope {
  const response = failureResponse(failure);
  return {
    v: 1,
    id: 'req_1',
    status: 'failed',
    httpStatus: status ?? response.httpStatus,
    error: { ...response.error, code: code ?? response.error.code },
    attempts: [],
    acceptedAt: 0,
    completedAt: 1,
  };
}

describe('requestOutcome', () => {
  it('a succeeded result is success', () => {
    assert.equal(requestOutcome({ v: 1, id: 'req_1', status: 'succeeded', httpStatus: 200, response: {}, attempts: [], acceptedAt: 0, completedAt: 1 }), 'success');
  });

  const table: [string, ResultEnvelope, RequestOutcome][] = [
    ['every target rate limited', failedWith('rate_limited'), 'rate_limited'],
    ['every target timed out', failedWith('timeout'), 'timeout'],
    ['the deadline passed', failedWith('deadline_exceeded'), 'deadline'],
    ['the client cancelled', failedWith('cancelled'), 'cancelled'],
    ['the provider refused the request (passed through)', failedWith('client', 422, 'invalid_value'), 'client_error'],
    ['a prompt too long for every context', failedWith('context_length'), 'client_error'],
    ['an unknown model', failedWith('client', 404, 'model_not_found'), 'client_error'],
    ['every target overloaded', failedWith('overloaded'), 'exhausted'],
    ['nothing healthy to try', failedWith('overloaded', 503, 'no_healthy_upstream'), 'exhausted'],
    ['mixed failures', failedWith('server'), 'exhausted'],
    ['bad provider keys', failedWith('auth'), 'exhausted'],
    ['a stream that could not be continued', failedWith('network', 502, 'stream_interrupted'), 'exhausted'],
    ['the gateway failed', failedWith('internal'), 'internal'],
  ];
  for (const [what, result, outcome] of table) {
    it(`${what}: ${outcome}`, () => {
      assert.equal(requestOutcome(result), outcome);
    });
  }
});
