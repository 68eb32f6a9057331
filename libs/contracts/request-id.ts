// Request ids are sortable (time first) and unguessable (80 random bits), like ULIDs.
import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

export function newRequestId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(10);
  let rand = '';
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      rand += alphabet[(acc >> bits) & 31];
    }
  }
  return `req_${time}${rand}`;
}

export const requestIdPattern = /^req_[0-9a-hjkmnp-tv-z]{26}$/;
