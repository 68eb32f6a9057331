// Idempotency-Key: the same key from the same client key within the window names the same
// request, so a client whose connection dropped can retry safely and get the one answer. Another
// client key, even of the same tenant, never reaches it: its Idempotency-Keys are its own.
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import type { IdempotencyBinding, Store } from '#libs/store/store.ts';
import type { Client } from '#libs/http/client-auth.ts';

export const idempotencyHeader = 'idempotency-key';

export interface IdempotencyClaim {
  key: string;
  bodyHash: string;
}

export function idempotencyKeyOf(req: FastifyRequest, client: Client, body: unknown): IdempotencyClaim | undefined {
  const raw = req.headers[idempotencyHeader];
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value || value.length > 255) {
    throw new GatewayError(400, `Invalid ${idempotencyHeader} header: expected 1 to 255 characters.`, { code: 'invalid_header', param: idempotencyHeader });
  }
  const key = createHash('sha256').update(`${client.tenant}\u0000${client.keyId}\u0000${value}`).digest('hex');
  const bodyHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
  return { key, bodyHash };
}

/**
 * Binds the key to a new request, or returns the request it already names. A key whose first
 * request is still being accepted, or that came with another body, is refused.
 */
export async function bindOrFind(store: Store, claim: IdempotencyClaim, requestId: string, pendingTtlSeconds: number): Promise<string | undefined> {
  const binding: IdempotencyBinding = { requestId, bodyHash: claim.bodyHash, state: 'pending' };
  const existing = await store.bindIdempotencyKey(claim.key, binding, pendingTtlSeconds);
  if (!existing) return undefined;
  if (existing.bodyHash !== claim.bodyHash) {
    throw new GatewayError(422, `This ${idempotencyHeader} was already used with a different request body.`, { code: 'idempotency_key_reused', param: idempotencyHeader });
  }
  if (existing.state === 'pending') {
    throw new GatewayError(409, `A request with this ${idempotencyHeader} is still being accepted; retry shortly.`, {
      code: 'idempotency_key_in_use',
      param: idempotencyHeader,
      headers: { 'retry-after': '1' },
    });
  }
  return existing.requestId;
}
