// Turns a schema violation into the 400 a client can act on: which field, what is wrong.
import type { z } from 'zod';
import { GatewayError } from '#libs/contracts/openai-error.ts';

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown): T {
  if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GatewayError(400, 'The request body must be a JSON object.', { code: 'invalid_request_body' });
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('') || null;
  // Judged by the value, not the issue code: a missing enum field (messages[0].role) fails as
  // invalid_value, a missing string as invalid_type, and both are missing to the client.
  const missing = issue.path.length > 0 && readPath(value, issue.path) === undefined;
  const message = missing ? `Missing required parameter: '${param}'.` : `Invalid value for '${param}': ${issue.message}.`;
  throw new GatewayError(400, message, { param, code: missing ? 'missing_required_parameter' : 'invalid_value' });
}

function readPath(value: unknown, path: PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
