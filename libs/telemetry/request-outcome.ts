// The outcome a finished request is counted under in spillway_requests_total: a small, fixed set
// of labels, read off the result envelope the client is answered with.
import type { ResultEnvelope } from '#libs/contracts/envelope.ts';

export const requestOutcomes = ['success', 'client_error', 'rate_limited', 'timeout', 'deadline', 'cancelled', 'exhausted', 'internal'] as const;
export type RequestOutcome = (typeof requestOutcomes)[number];

/**
 * success; client_error: the caller's fault (the provider's 4xx passed through, an unknown model);
 * rate_limited: every target rate limited (429); timeout: every target too slow (504); deadline:
 * the request's own deadline passed; cancelled: its client cancelled it; exhausted: every target
 * failed otherwise (5xx, network, auth, nothing healthy to try); internal: the gateway failed.
 */
export function requestOutcome(result: ResultEnvelope): RequestOutcome {
  if (result.status === 'succeeded') return 'success';
  const code = result.error?.code;
  if (code === 'deadline_exceeded') return 'deadline';
  if (code === 'cancelled' || result.httpStatus === 499) return 'cancelled';
  if (result.httpStatus === 429) return 'rate_limited';
  if (result.httpStatus === 504) return 'timeout';
  if (result.httpStatus === 500) return 'internal';
  if (result.httpStatus < 500) return 'client_error';
  return 'exhausted';
}
