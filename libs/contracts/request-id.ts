// Request ids are sortable (time first) and unguessable (80 random bits), like ULIDs.
import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

export function newRequestId(now: number = Date.now()): string {
  return `req_${timePart(now)}${base32(randomBytes(10))}`;
}

/** The 10 characters a request id starts with: `now`, sortable. */
function timePart(now: number): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time;
}

/** 10 bytes as the 16 characters that end a request id. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += alphabet[(acc >> bits) & 31];
    }
  }
  return out;
}

export const requestIdPattern = /^req_[0-9a-hjkmnp-tv-z]{26}$/;
