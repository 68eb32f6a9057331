// Who is calling, as every route sees it, and what it may read. Keys themselves are checked by
// the account directory (libs/governance/directory.ts); only a key's id is ever logged or put in
// a result.
import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from '#libs/governance/directory.ts';

/** Who is calling: the key's id (never the key) and the tenant its traffic counts against. */
export interface Client {
  keyId: string;
  tenant: string;
  /** The key's terms and its team's and customer's (none when the API is open). */
  principal?: Principal;
}

/** The caller when the API is open (no client keys configured). */
export const anonymousClient: Client = { keyId: 'anonymous', tenant: 'default' };

/**
 * Whether a client may read a request, result, stream, batch or file that `owner` (a key id)
 * created: with the API open, anything; with keys, only what its own key created. Something
 * with no owner recorded (made before owners were, or produced straight to Kafka) is nobody's.
 */
export function mayRead(client: Client, owner: string | undefined): boolean {
  return client === anonymousClient || owner === client.keyId;
}

/** The subprotocol prefix a browser, which cannot set headers on a WebSocket, sends its key in. */
export const keySubprotocolPrefix = 'spillway.key.';

/** The key a request presents: `Authorization: Bearer`, `x-api-key` (Anthropic's SDKs), or a WebSocket subprotocol. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey;
  const protocols = headers['sec-websocket-protocol'];
  if (typeof protocols === 'string') {
    const offered = protocols.split(',').map((p) => p.trim()).find((p) => p.startsWith(keySubprotocolPrefix));
    if (offered) return offered.slice(keySubprotocolPrefix.length);
  }
  return undefined;
}
