// Every upstream failure maps to one failure class here, and retry and fallback policy is
// written against classes, never against status codes.
import type { FailureClass } from '#libs/contracts/envelope.ts';
import type { UpstreamError } from '#libs/providers/provider.ts';

const byStatus: Record<number, FailureClass> = {
  400: 'client',
  401: 'auth',
  403: 'auth',
  404: 'client',
  408: 'timeout',
  409: 'client',
  413: 'client',
  415: 'client',
  422: 'client',
  429: 'rate_limited',
  500: 'server',
  502: 'server',
  503: 'overloaded',
  504: 'server',
  529: 'overloaded',
};

const networkCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const timeoutCodes = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

const contextLengthPattern = /context[_ ]length|maximum context|context window|too many tokens|prompt is too long/i;
const contentFilterPattern = /content[_ ]filter|content[_ ]policy|safety system|responsible ai/i;
// Providers also say "quota" or "rate limit" on other statuses (Google and Azure on a 403, some
// OpenAI-compatible servers on a 400); those are about the key's quota too, not the caller.
const quotaPattern = /quota|rate[ _-]?limit|too many requests|throttl/i;

export function classify(err: UpstreamError): FailureClass {
  if (err.code === 'ABORT_ERR') return 'cancelled';
  if (err.status !== undefined) {
    const text = errorText(err.body);
    if (err.status === 400 || err.status === 422 || err.status === 413) {
      if (contextLengthPattern.test(text)) return 'context_length';
      if (contentFilterPattern.test(text)) return 'content_filter';
    }
    // A 401 is the credential whatever its message; a 429 is rate_limited by status already.
    if (err.status >= 400 && err.status < 500 && err.status !== 401 && quotaPattern.test(text)) return 'rate_limited';
    return byStatus[err.status] ?? (err.status >= 500 ? 'server' : 'client');
  }
  if (err.code && timeoutCodes.has(err.code)) return 'timeout';
  if (err.code && (networkCodes.has(err.code) || err.code.startsWith('ERR_TLS') || err.code.includes('CERT'))) return 'network';
  if (err.phase === 'connect') return 'network';
  return 'network';
}

/** The code and message of an OpenAI-shaped error body, for pattern checks. */
export function errorText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body && typeof body === 'object' && 'error' in body) {
    const error = (body as { error: unknown }).error;
    if (error && typeof error === 'object') {
      const e = error as Record<string, unknown>;
      return `${String(e.code ?? '')} ${String(e.type ?? '')} ${String(e.message ?? '')}`;
    }
    return String(error);
  }
  return '';
}
