// The Standard Webhooks (v1, symmetric) signature: base64 HMAC-SHA256 of "<id>.<timestamp>.<body>",
// keyed by the bytes the secret encodes (`whsec_` + base64), so receivers can use the standard libraries.
import { createHmac } from 'node:crypto';

/** The HMAC key a `whsec_…` secret (or its bare base64) stands for. */
export function webhookKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

/** The `webhook-signature` header value: `v1,<base64 signature>`. `timestamp` is unix seconds. */
export function signWebhook(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}
