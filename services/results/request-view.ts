// What GET /v1/requests/{id} answers for a finished request; webhooks carry the same view.
import type { ResultEnvelope } from '#libs/contracts/envelope.ts';

export function requestView(id: string, result: ResultEnvelope): Record<string, unknown> {
  return {
    id,
    object: 'spillway.request',
    status: result.status === 'succeeded' ? 'completed' : 'failed',
    created_at: Math.floor(result.acceptedAt / 1000),
    completed_at: Math.floor(result.completedAt / 1000),
    http_status: result.httpStatus,
    provider: result.provider ?? null,
    model: result.model ?? null,
    response: result.response ?? null,
    error: result.error ?? null,
    usage: result.usage ?? null,
    attempts: result.attempts,
  };
}
