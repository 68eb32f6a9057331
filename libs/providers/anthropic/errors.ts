// Anthropic's errors in the gateway's terms: its error body in OpenAI's shape (what classify and
// the failure response read), the HTTP status of an error type (for errors that arrive in-band),
// and a `retry-after` for 429s that only carry the rate-limit reset timestamps.
import { rateLimitReset } from '#libs/routing/retry-after.ts';
import { UpstreamError } from '../provider.ts';
import { errorBodySchema } from './wire.ts';

const statusByType: ReadonlyMap<string, number> = new Map([
  ['invalid_request_error', 400],
  ['authentication_error', 401],
  ['billing_error', 402],
  ['permission_error', 403],
  ['not_found_error', 404],
  ['conflict_error', 409],
  ['request_too_large', 413],
  ['rate_limit_error', 429],
  ['api_error', 500],
  ['timeout_error', 504],
  ['overloaded_error', 529],
]);

export function statusForErrorType(type: string): number {
  return statusByType.get(type) ?? 500;
}

/**
 * `{ type: 'error', error: { type, message } }` → `{ error: { message, type, param, code } }`. The
 * type stays Anthropic's; the code is Anthropic's `details.error_code` when it names the cause,
 * else the type. Any other body is left as it came. The call's key is masked wherever it shows.
 */
export function toOpenAIErrorBody(body: unknown, secret?: string): unknown {
  const parsed = errorBodySchema.safeParse(body);
  if (!parsed.success) return typeof body === 'string' ? redact(body, secret) : body;
  const { type, message, details } = parsed.data.error;
  return { error: { message: redact(message, secret), type, param: null, code: details?.error_code ?? type } };
}

/** The error body's type and message, for an error that arrived in a 200 response. */
export function errorTypeAndMessage(body: unknown): { type: string; message: string } | undefined {
  const parsed = errorBodySchema.safeParse(body);
  return parsed.success ? { type: parsed.data.error.type, message: parsed.data.error.message } : undefined;
}

/**
 * A 429 with `retry-after` added from the `anthropic-ratelimit-*-reset` timestamps when Anthropic
 * sent none, so the failure response can pass the wait on to the client. Anything else as it is.
 */
export function withRetryAfter(err: UpstreamError, now: number): UpstreamError {
  if (err.status !== 429 || err.headers['retry-after'] !== undefined) return err;
  const waitMs = rateLimitReset(err.headers, now);
  if (waitMs === undefined) return err;
  const headers = { ...err.headers, 'retry-after': String(Math.ceil(waitMs / 1000)) };
  return new UpstreamError(err.message, { status: err.status, code: err.code, phase: err.phase, body: err.body, headers, keyId: err.keyId });
}

export function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('[redacted]') : text;
}
