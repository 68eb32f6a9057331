// Every error that reaches a client has OpenAI's shape; the status and type are decided here.
import { z } from 'zod';

export const openAIErrorSchema = z.object({
  message: z.string(),
  type: z.string(),
  param: z.string().nullable(),
  code: z.string().nullable(),
});
export type OpenAIError = z.infer<typeof openAIErrorSchema>;

const typeByStatus: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  408: 'timeout_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'server_error',
  502: 'upstream_error',
  503: 'service_unavailable',
  504: 'timeout_error',
};

export function errorTypeFor(status: number): string {
  return typeByStatus[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
}

/** A failure with its HTTP mapping; thrown inside the gateway, rendered once at the edge. */
export class GatewayError extends Error {
  readonly status: number;
  readonly body: OpenAIError;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    opts: { code?: string | null; param?: string | null; type?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.headers = opts.headers ?? {};
    this.body = { message, type: opts.type ?? errorTypeFor(status), param: opts.param ?? null, code: opts.code ?? null };
  }
}

export function errorBody(error: OpenAIError): { error: OpenAIError } {
  return { error };
}
