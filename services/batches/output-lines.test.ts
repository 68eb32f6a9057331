import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ResultEnvelope } from '#libs/contracts/envelope.ts';
import { batchLineOutcome } from './output-lines.ts';

const base = { v: 1 as const, id: 'req_abc', attempts: [], acceptedAt: 1, completedAt: 2 };
const failedWith = (httpStatus: number, code: string, message = 'boom'): ResultEnvelope => ({ ...base, status: 'failed', httpStatus, error: { message, type: 'server_error', param: null, code } });

describe('batchLineOutcome', () => {
  it('writes a success to the output file in OpenAI batch output format', () => {
    const outcome = batchLineOutcome({ ...base, status: 'succeeded', httpStatus: 200, response: { id: 'chatcmpl-1', object: 'chat.completion' } }, 'r1');
    assert.deepEqual([outcome.kind, outcome.file, outcome.customId], ['completed', 'output', 'r1']);
    assert.deepEqual(JSON.parse(outcome.line), { id: 'batch_req_abc', custom_id: 'r1', response: { status_code: 200, request_id: 'req_abc', body: { id: 'chatcmpl-1', object: 'chat.completion' } }, error: null });
  });

  it('writes a failed request to the error file with its status, error body and code', () => {
    const outcome = batchLineOutcome(failedWith(502, 'upstream_error'), 'r2');
    assert.deepEqual([outcome.kind, outcome.file], ['failed', 'error']);
    assert.deepEqual(JSON.parse(outcome.line), {
      id: 'batch_req_abc',
      custom_id: 'r2',
      response: { status_code: 502, request_id: 'req_abc', body: { error: { message: 'boom', type: 'server_error', param: null, code: 'upstream_error' } } },
      error: { code: 'upstream_error', message: 'boom' },
    });
  });

  it('marks requests skipped by a cancel or an expired window as never run, with no response', () => {
    const cancelled = batchLineOutcome(failedWith(499, 'cancelled'), 'r3');
    const expired = batchLineOutcome(failedWith(504, 'deadline_exceeded'), 'r4');
    assert.deepEqual([cancelled.kind, cancelled.file, JSON.parse(cancelled.line).response, JSON.parse(cancelled.line).error.code], ['cancelled', 'error', null, 'batch_cancelled']);
    assert.deepEqual([expired.kind, expired.file, JSON.parse(expired.line).response, JSON.parse(expired.line).error.code], ['expired', 'error', null, 'batch_expired']);
  });
});
