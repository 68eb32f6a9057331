// Every error the Anthropic surface answers, in Anthropic's shape: the type is decided by the
// HTTP status, as Anthropic's API documents it, whatever the OpenAI-shaped error called it.
import type { OpenAIError } from '#libs/contracts/openai-error.ts';
import type { AnthropicErrorBody } from './schema.ts';

const typeByStatus: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** Anthropic uses invalid_request_error for any 4XX it does not list, api_error for any 5XX. */
export function anthropicErrorType(status: number): string {
  return typeByStatus[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

export function anthropicError(
  status: number,
  error: Pick<OpenAIError, 'message'> & Partial<Pick<OpenAIError, 'type' | 'code'>>,
  requestId?: string,
): AnthropicErrorBody {
  return {
    type: 'error',
    error: { type: anthropicErrorType(status), message: error.message },
    ...(requestId !== undefined ? { request_id: requestId } : {}),
  };
}
