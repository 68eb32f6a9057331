import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signWebhook, webhookKey } from './webhook-signature.ts';

describe('webhook signature (Standard Webhooks v1)', () => {
  // The vector from the Standard Webhooks reference library's own tests.
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const timestamp = 1614265330;
  const body = '{"test": 2432232314}';

  it('matches the reference implementation for its published vector', () => {
    assert.equal(signWebhook(webhookKey(secret), id, timestamp, body), 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('keys by the bytes the secret encodes, with or without the whsec_ prefix', () => {
    assert.deepEqual(webhookKey(secret), webhookKey(secret.slice('whsec_'.length)));
    assert.equal(webhookKey(secret).length, 24);
  });

  it('changes with the id, the timestamp and every byte of the body', () => {
    const key = webhookKey(secret);
    const base = signWebhook(key, id, timestamp, body);
    assert.notEqual(signWebhook(key, `${id}x`, timestamp, body), base);
    assert.notEqual(signWebhook(key, id, timestamp + 1, body), base);
    assert.notEqual(signWebhook(key, id, timestamp, body.replace(' ', '')), base);
  });
});
