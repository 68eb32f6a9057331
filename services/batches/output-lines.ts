// One finished request as a line of the batch's output or error file, in OpenAI's batch output
// format, and how it counts: completed, failed, or never run (batch cancelled or expired).
import type { BatchLineOutcome } from '#libs/contracts/batch.ts';
import type { ResultEnvelope } from '#libs/contracts/envelope.ts';

export function batchLineOutcome(result: ResultEnvelope, customId: string): BatchLineOutcome {
  const id = outputLineId(result.id);
  const line = (response: unknown, error: { code: string; message: string } | null): string => JSON.stringify({ id, custom_id: customId, response, error });
  if (result.status === 'succeeded') {
    return { customId, kind: 'completed', file: 'output', line: line({ status_code: result.httpStatus, request_id: result.id, body: result.response ?? null }, null) };
  }
  const code = result.error?.code ?? result.error?.type ?? 'error';
  if (code === 'cancelled') return cancelledLine(id, customId);
  if (code === 'deadline_exceeded') return expiredLine(id, customId);
  const message = result.error?.message ?? 'The request failed.';
  return { customId, kind: 'failed', file: 'error', line: line({ status_code: result.httpStatus, request_id: result.id, body: { error: result.error ?? null } }, { code, message }) };
}

/** A line that never ran before the batch's completion window passed. */
export function expiredLine(id: string, customId: string): BatchLineOutcome {
  const line = JSON.stringify({ id, custom_id: customId, response: null, error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' } });
  return { customId, kind: 'expired', file: 'error', line };
}

/** A line that never ran because its batch was cancelled first. */
export function cancelledLine(id: string, customId: string): BatchLineOutcome {
  const line = JSON.stringify({ id, custom_id: customId, response: null, error: { code: 'batch_cancelled', message: 'The batch was cancelled before this request ran.' } });
  return { customId, kind: 'cancelled', file: 'error', line };
}

/** A line the gateway could no longer run when its turn came (its model is no longer routable, say). */
export function refusedLine(id: string, customId: string, error: { code: string; message: string }): BatchLineOutcome {
  return { customId, kind: 'failed', file: 'error', line: JSON.stringify({ id, custom_id: customId, response: null, error }) };
}

/** The id of a batch line's output line, from its request's id. */
export function outputLineId(requestId: string): string {
  return `batch_req_${requestId.replace(/^req_/, '')}`;
}
