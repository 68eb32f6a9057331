// Admission against a key's rate limits and budgets (and its team's and customer's), shared by
// every replica through the meter: the headers a client is told its standing by, or the 429 it
// gets in OpenAI's shape.
import { GatewayError } from '#libs/contracts/openai-error.ts';
import type { Client } from '#libs/http/client-auth.ts';
import type { Admission, Meter, WindowState } from '#libs/governance/meter.ts';
import { meteredSubjects } from '#libs/governance/terms.ts';
import { quotaMessage } from '#libs/governance/budget.ts';
import type { Metrics } from '#libs/telemetry/metrics.ts';
import type { AccountDirectory } from '#libs/governance/directory.ts';

/** OpenAI's way of writing a wait in `x-ratelimit-reset-*`: `20ms`, `1.5s`, `6m0s`. */
export function resetDuration(ms: number): string {
  // Whole milliseconds first, so a unit boundary never reads `1000ms` or `1m60s`.
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const seconds = (whole - minutes * 60_000) / 1000;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/** `x-ratelimit-*` headers for the tightest window of each kind. */
export function rateLimitHeaders(state: { requests?: WindowState | undefined; tokens?: WindowState | undefined }): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [kind, window] of [['requests', state.requests], ['tokens', state.tokens]] as const) {
    if (!window) continue;
    headers[`x-ratelimit-limit-${kind}`] = String(window.limit);
    headers[`x-ratelimit-remaining-${kind}`] = String(window.remaining);
    headers[`x-ratelimit-reset-${kind}`] = resetDuration(window.resetMs);
  }
  return headers;
}

/** The 429 a refusal is answered with. */
export function refusalError(refusal: Extract<Admission, { admitted: false }>, estimatedTokens: number): GatewayError {
  const headers = rateLimitHeaders(refusal);
  const retry = refusal.retryAfterMs;
  if (retry !== undefined) {
    headers['retry-after'] = String(Math.ceil(retry / 1000));
    headers['retry-after-ms'] = String(Math.ceil(retry));
  }
  if (refusal.reason === 'budget') {
    // An SDK that retries 429s on its own must not retry this one: waiting for the period to end is the caller's call.
    headers['x-should-retry'] = 'false';
    return new GatewayError(429, quotaMessage(refusal.subject, refusal.period), { code: 'insufficient_quota', type: 'insufficient_quota', headers });
  }
  const what = refusal.reason === 'requests' ? 'requests per min (RPM)' : 'tokens per min (TPM)';
  const window = refusal.reason === 'requests' ? refusal.requests : refusal.tokens;
  if (refusal.tooLarge) {
    headers['x-should-retry'] = 'false';
    return new GatewayError(429, `Request too large for ${refusal.subject} on ${what}: Limit ${window?.limit ?? '?'}, Requested ${estimatedTokens}. Send a shorter request or a lower max_tokens.`, { code: 'rate_limit_exceeded', type: 'tokens', headers });
  }
  const wait = retry !== undefined ? ` Please try again in ${resetDuration(retry)}.` : '';
  return new GatewayError(429, `Rate limit reached for ${refusal.subject} on ${what}: Limit ${window?.limit ?? '?'}.${wait}`, { code: 'rate_limit_exceeded', type: refusal.reason, headers });
}

/**
 * Admits one request for its client, or throws the 429 (or, when the meter cannot be reached,
 * a 503). Returns the headers that tell the client where it stands; none for an open API or a
 * key with no limits.
 */
export async function admit(runtime: { meter: Meter; metrics: Metrics }, client: Client, requestId: string, estimatedTokens: number): Promise<Record<string, string>> {
  if (!client.principal) return {};
  const subjects = meteredSubjects(client.principal);
  if (subjects.length === 0) return {};
  let admission: Admission;
  try {
    admission = await runtime.meter.admit({ requestId, estimatedTokens, subjects });
  } catch {
    throw new GatewayError(503, 'The gateway cannot check rate limits and budgets right now: its store is unavailable. Retry after a moment.', { code: 'store_unavailable', type: 'service_unavailable', headers: { 'retry-after': '1' } });
  }
  if (!admission.admitted) {
    runtime.metrics.admissionRefusals.inc({ reason: admission.reason });
    throw refusalError(admission, estimatedTokens);
  }
  return rateLimitHeaders(admission);
}

/**
 * Takes back the admission of a request Kafka refused (the client got a 503 and will send it
 * again), so it does not count against the key's limits. Failing that, it just counts.
 */
export async function releaseAdmission(runtime: { meter: Meter; auth: AccountDirectory }, owner: string | undefined, requestId: string): Promise<void> {
  const key = owner !== undefined ? runtime.auth.keyById(owner) : undefined;
  if (!key) return;
  const subjects = meteredSubjects(runtime.auth.principalOf(key)).filter((s) => s.rpm !== undefined || s.tpm !== undefined);
  if (subjects.length > 0) await runtime.meter.release(requestId, subjects.map((s) => s.subject)).catch(() => undefined);
}
