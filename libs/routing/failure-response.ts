// What a client is told when the final attempt failed: status and OpenAI error, by class.
// Caller faults pass the provider's own error through; everything else is the gateway's word,
// so an upstream message that echoes a key never reaches the client.
import type { FailureClass } from '#libs/contracts/envelope.ts';
import { errorTypeFor, type OpenAIError } from '#libs/contracts/openai-error.ts';
import type { UpstreamError } from '#libs/providers/provider.ts';

export interface FailureResponse {
  httpStatus: number;
  error: OpenAIError;
  headers: Record<string, string>;
  /** True when the error is the provider's own, passed through as it came. */
  passedThrough?: boolean;
}

const passThrough = new Set<FailureClass>(['client', 'context_length', 'content_filter']);

const byClass: Record<FailureClass, { status: number; code: string; message: string }> = {
  rate_limited: { status: 429, code: 'rate_limit_exceeded', message: 'The provider is rate limiting requests' },
  overloaded: { status: 503, code: 'upstream_overloaded', message: 'The provider is overloaded' },
  server: { status: 502, code: 'upstream_error', message: 'The provider failed to answer' },
  network: { status: 502, code: 'upstream_unreachable', message: 'The provider could not be reached' },
  timeout: { status: 504, code: 'upstream_timeout', message: 'The provider did not answer in time' },
  auth: { status: 502, code: 'upstream_auth_failed', message: "The provider rejected the gateway's credentials" },
  client: { status: 400, code: 'invalid_request', message: 'The provider rejected the request' },
  context_length: { status: 400, code: 'context_length_exceeded', message: "The request exceeds the model's context window" },
  content_filter: { status: 400, code: 'content_filter', message: "The request was rejected by the provider's content policy" },
  cancelled: { status: 499, code: 'cancelled', message: 'The request was cancelled' },
  deadline_exceeded: { status: 504, code: 'deadline_exceeded', message: 'The request did not complete before its deadline' },
  internal: { status: 500, code: 'internal_error', message: 'The gateway failed while handling the request' },
};

export function failureResponse(failure: FailureClass, err?: UpstreamError, detail?: string): FailureResponse {
  const base = byClass[failure];
  if (err && passThrough.has(failure)) {
    const upstream = upstreamError(err.body);
    if (upstream) return { httpStatus: err.status ?? base.status, error: upstream, headers: {}, passedThrough: true };
  }
  const headers: Record<string, string> = {};
  if (failure === 'rate_limited' && err?.headers['retry-after']) headers['retry-after'] = err.headers['retry-after'];
  const provider = detail ? `: ${detail}` : '';
  return {
    httpStatus: base.status,
    error: { message: `${base.message}${provider}`, type: errorTypeFor(base.status), param: null, code: base.code },
    headers,
  };
}

function upstreamError(body: unknown): OpenAIError | undefined {
  if (!body || typeof body !== 'object' || !('error' in body)) return undefined;
  const e = (body as { error: unknown }).error;
  if (!e || typeof e !== 'object') return undefined;
  const r = e as Record<string, unknown>;
  if (typeof r.message !== 'string') return undefined;
  return {
    message: r.message,
    type: typeof r.type === 'string' ? r.type : 'invalid_request_error',
    param: typeof r.param === 'string' ? r.param : null,
    code: typeof r.code === 'string' ? r.code : null,
  };
}
