// Google's error bodies (`{error: {code, message, status, details}}`) in OpenAI's error shape,
// with what routing needs from them: the status to act on and RetryInfo's delay.
import { retryDelayFromBody } from '#libs/routing/retry-after.ts';
import { isRecord } from '../http.ts';

type Json = Record<string, unknown>;

export interface GoogleErrorTranslation {
  /** The status the gateway should act on when it differs from the HTTP status (a bad key is a 400 at Google). */
  status?: number;
  body: { error: { message: string; type: string; param: null; code: string | null } };
  /** From google.rpc.RetryInfo, in whole seconds rounded up, for a `retry-after` header. */
  retryAfterSeconds?: number;
}

const contextLengthMessage = /input token count.*exceeds the maximum/i;

/** The Google error object of a body (`{error}` or `[{error}]`), if it is one. */
export function googleErrorOf(body: unknown): Json | undefined {
  const root: unknown = Array.isArray(body) ? body[0] : body;
  return isRecord(root) && isRecord(root.error) ? root.error : undefined;
}

/**
 * Google's `{error: {code, message, status, details}}` in OpenAI's shape. `secrets` are blanked
 * out of the message, so an upstream that echoes a key or token does not carry it further.
 */
export function fromGoogleError(raw: unknown, secrets: readonly string[] = []): GoogleErrorTranslation {
  const error = googleErrorOf(raw);
  if (!error) {
    const text = typeof raw === 'string' && raw.trim() !== '' ? raw.slice(0, 500) : 'The provider answered with an error and no error body';
    return { body: { error: { message: redact(text, secrets), type: 'upstream_error', param: null, code: null } } };
  }
  const status = typeof error.status === 'string' ? error.status : 'UNKNOWN';
  const message = redact(typeof error.message === 'string' ? error.message : status, secrets);
  let code = status.toLowerCase();
  let override: number | undefined;
  if (errorInfoReasons(error).includes('API_KEY_INVALID')) {
    override = 401;
    code = 'invalid_api_key';
  } else if (contextLengthMessage.test(message)) code = 'context_length_exceeded';
  const out: GoogleErrorTranslation = { body: { error: { message, type: status, param: null, code } } };
  if (override !== undefined) out.status = override;
  const delayMs = retryDelayFromBody(raw);
  if (delayMs !== undefined) out.retryAfterSeconds = Math.ceil(delayMs / 1000);
  return out;
}

function errorInfoReasons(error: Json): string[] {
  if (!Array.isArray(error.details)) return [];
  return error.details.flatMap((d: unknown) => (isRecord(d) && typeof d.reason === 'string' ? [d.reason] : []));
}

function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}
