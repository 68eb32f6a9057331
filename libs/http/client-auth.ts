// Client keys: who may call the gateway. With none configured the API is open (start-up says
// so). Keys are kept as SHA-256 digests and compared in constant time; only a key's id is ever
// logged or put in a result.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface ClientKeyConfig {
  id?: string | undefined;
  key: string;
}

/** The subprotocol prefix a browser, which cannot set headers on a WebSocket, sends its key in. */
export const keySubprotocolPrefix = 'spillway.key.';

export class ClientAuth {
  private readonly keys: { id: string; digest: Buffer }[];

  constructor(keys: readonly ClientKeyConfig[]) {
    this.keys = keys.map((k, i) => ({ id: k.id ?? `key-${i + 1}`, digest: digest(k.key) }));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The id of the key, or undefined when it is not one of ours. Always true-ish when auth is off. */
  check(key: string | undefined): string | undefined {
    if (!this.enabled) return 'anonymous';
    if (!key) return undefined;
    const candidate = digest(key);
    return this.keys.find((k) => timingSafeEqual(k.digest, candidate))?.id;
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
