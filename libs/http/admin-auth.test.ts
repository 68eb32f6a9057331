import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdminAuth, presentedAdminKey } from './admin-auth.ts';

const key = 'admin-key-0123456789abcdef';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('the admin credential', () => {
  const auth = new AdminAuth(key);

  it('opens with HTTP Basic whatever the user name, the key as the password', () => {
    assert.equal(auth.check({ authorization: basic('admin', key) }), true);
    assert.equal(auth.check({ authorization: basic('', key) }), true);
    assert.equal(auth.check({ authorization: basic('ops', key) }), true);
  });

  it('opens with Authorization: Bearer, whatever the case of the scheme', () => {
    assert.equal(auth.check({ authorization: `Bearer ${key}` }), true);
    assert.equal(auth.check({ authorization: `bearer ${key}` }), true);
  });

  it('does not open with another key, a key as the user name, an empty password or no header', () => {
    assert.equal(auth.check({ authorization: `Bearer sk-client-key` }), false);
    assert.equal(auth.check({ authorization: basic(key, '') }), false);
    assert.equal(auth.check({ authorization: basic(key, 'x') }), false);
    assert.equal(auth.check({ authorization: `${key}` }), false);
    assert.equal(auth.check({ 'x-api-key': key }), false);
    assert.equal(auth.check({}), false);
  });

  it('reads the password after the first colon, so a password may hold colons', () => {
    assert.equal(presentedAdminKey({ authorization: basic('u', 'a:b:c') }), 'a:b:c');
    assert.equal(new AdminAuth('pass:with:colons-long-enough').check({ authorization: basic('u', 'pass:with:colons-long-enough') }), true);
  });
});
