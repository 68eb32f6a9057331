// Client keys: who may call the gateway. With none configured the API is open (start-up says
// so). Keys are kept as SHA-256 digests and compared in constant time; only a key's id is ever
// logged or put in a result.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface ClientKeyConfig {
  id?: string | undefined;
  key: string;
  tenant?: string | undefined;
}

/** Who is calling: the key's id (never the key) and the tenant its traffic counts against. */
export interface Client {
  keyId: string;
  tenant: string;
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

export class ClientAuth {
  private readonly keys: { client: Client; digest: Buffer }[];

  constructor(keys: readonly ClientKeyConfig[]) {
    this.keys = keys.map((k, i) => {
      const keyId = k.id ?? `key-${i + 1}`;
      return { client: { keyId, tenant: k.tenant ?? keyId }, digest: digest(k.key) };
    });
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The client the key belongs to, or undefined when it is not one of ours. Anonymous when auth is off. */
  check(key: string | undefined): Client | undefined {
    if (!this.enabled) return anonymousClient;
    if (!key) return undefined;
    const candidate = digest(key);
    return this.keys.find((k) => timingSafeEqual(k.digest, candidate))?.client;
  }
}

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

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
