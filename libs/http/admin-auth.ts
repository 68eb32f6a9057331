// The admin credential that opens the dashboard and the admin API: HTTP Basic (any user name,
// the key as the password, so a browser prompts for it) or `Authorization: Bearer <key>`. Kept
// as a SHA-256 digest and compared in constant time; client keys never open it.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** What a 401 carries, so a browser asks for the credential. */
export const basicChallenge = 'Basic realm="spillway", charset="UTF-8"';

export class AdminAuth {
  private readonly digest: Buffer;

  constructor(key: string) {
    this.digest = digest(key);
  }

  /** True when the request presents the admin key. */
  check(headers: IncomingHttpHeaders): boolean {
    const presented = presentedAdminKey(headers);
    return presented !== undefined && timingSafeEqual(digest(presented), this.digest);
  }
}

/** The password of `Authorization: Basic`, or the token of `Authorization: Bearer`. */
export function presentedAdminKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth !== 'string') return undefined;
  const space = auth.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = auth.slice(0, space).toLowerCase();
  const value = auth.slice(space + 1).trim();
  if (scheme === 'bearer') return value || undefined;
  if (scheme !== 'basic') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1) || undefined;
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}
