import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { configSchema, type Config } from '#libs/config/schema.ts';
import { anonymousClient, type Client } from '#libs/http/client-auth.ts';
import { MemoryStore } from '#libs/store/memory.ts';
import { createLogger } from '#libs/telemetry/logger.ts';
import { keyDigest } from './accounts.ts';
import { AccountDirectory, authEnabled } from './directory.ts';

const config = (raw: Record<string, unknown>): Config => configSchema.parse(raw);
const storeOptions = { prefix: 'p', resultTtlSeconds: 60, replayTtlSeconds: 60 };
const logger = createLogger({ level: 'silent' });

describe('authEnabled', () => {
  it('follows auth.enabled when it is set, whatever else is configured', () => {
    assert.equal(authEnabled(config({ auth: { enabled: true } }), true), true, 'on in the embedded default with nothing configured');
    assert.equal(authEnabled(config({ auth: { enabled: false, keys: [{ key: 'sk-a' }] }, admin: { key: 'a'.repeat(16) } }), false), false, 'off outside it, with keys');
  });

  it('unset, leaves the embedded default open when it has no keys and no admin key', () => {
    assert.equal(authEnabled(config({}), true), false);
  });

  it('unset, turns it on in the embedded default once a key or an admin key is configured', () => {
    assert.equal(authEnabled(config({ auth: { keys: [{ key: 'sk-a' }] } }), true), true);
    assert.equal(authEnabled(config({ admin: { key: 'a'.repeat(16) } }), true), true);
  });

  it('unset, is on outside the embedded default even with nothing configured', () => {
    assert.equal(authEnabled(config({}), false), true);
  });
});

/** The 401 (or other GatewayError) an authentication answered; fails the test on a client. */
function refused(result: Client | GatewayError): GatewayError {
  assert.ok(result instanceof GatewayError, `expected a GatewayError, got client ${JSON.stringify(result)}`);
  return result;
}

function accepted(result: Client | GatewayError): Client {
  assert.ok(!(result instanceof GatewayError), `expected a client, got ${result instanceof GatewayError ? result.message : ''}`);
  return result;
}

describe('AccountDirectory.authenticate', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const auth = config({
    auth: {
      customers: [{ id: 'acme', budgets: [{ usd: 100, period: 'month' }] }],
      teams: [{ id: 'search', customer: 'acme', limits: { rpm: 10 } }],
      keys: [
        { id: 'team-key', key: 'sk-team', team: 'search' },
        { id: 'hashed', keyHash: `sha256:${keyDigest('sk-hashed')}` },
        { id: 'expired', key: 'sk-expired', expiresAt: '2029-12-31T23:59:59Z' },
        { id: 'expiring', key: 'sk-expiring', expiresAt: '2030-01-01T00:00:00Z' },
        { id: 'valid-until-later', key: 'sk-later', expiresAt: '2030-01-01T00:00:01Z' },
        { id: 'legacy', key: 'sk-legacy', tenant: 'old-tenant' },
        { id: 'own-customer', key: 'sk-own', customer: 'acme' },
      ],
    },
  }).auth;

  let store: MemoryStore;
  let directory: AccountDirectory;

  before(async () => {
    store = new MemoryStore(storeOptions);
    directory = new AccountDirectory({ auth, enabled: true, store, logger, now: () => now });
    await directory.start();
  });

  after(async () => {
    await directory.stop();
    await store.close();
  });

  it('refuses a missing key with 401 invalid_api_key', async () => {
    for (const missing of [undefined, '']) {
      const err = refused(await directory.authenticate(missing));
      assert.equal(err.status, 401);
      assert.equal(err.body.code, 'invalid_api_key');
    }
  });

  it('refuses an unknown key with 401 invalid_api_key', async () => {
    const err = refused(await directory.authenticate('sk-nobody'));
    assert.equal(err.status, 401);
    assert.equal(err.body.code, 'invalid_api_key');
  });

  it('refuses the digest of a keyHash presented as the key: only the secret opens it', async () => {
    assert.equal(refused(await directory.authenticate(keyDigest('sk-hashed'))).status, 401);
  });

  it('accepts the secret of a key configured by its keyHash', async () => {
    assert.equal(accepted(await directory.authenticate('sk-hashed')).keyId, 'hashed');
  });

  it('refuses a key whose expiresAt has passed, or is now, with 401 api_key_expired', async () => {
    for (const secret of ['sk-expired', 'sk-expiring']) {
      const err = refused(await directory.authenticate(secret));
      assert.equal(err.status, 401);
      assert.equal(err.body.code, 'api_key_expired');
    }
  });

  it('accepts a key that expires later', async () => {
    assert.equal(accepted(await directory.authenticate('sk-later')).keyId, 'valid-until-later');
  });

  it('resolves a key\'s team and, through it, its customer, which is the tenant', async () => {
    const client = accepted(await directory.authenticate('sk-team'));
    assert.equal(client.keyId, 'team-key');
    assert.equal(client.tenant, 'acme');
    assert.equal(client.principal?.key.id, 'team-key');
    assert.deepEqual(client.principal?.team, { kind: 'team', id: 'search', customer: 'acme', limits: { rpm: 10 } });
    assert.deepEqual(client.principal?.customer, { kind: 'customer', id: 'acme', budgets: [{ usd: 100, period: 'month' }] });
  });

  it('resolves a key\'s own customer when it has no team', async () => {
    const client = accepted(await directory.authenticate('sk-own'));
    assert.equal(client.tenant, 'acme');
    assert.equal(client.principal?.team, undefined);
    assert.equal(client.principal?.customer?.id, 'acme');
  });

  it('takes the older `tenant` as the key\'s customer id, and the key id when it has neither', async () => {
    assert.equal(accepted(await directory.authenticate('sk-legacy')).tenant, 'old-tenant');
    assert.equal(accepted(await directory.authenticate('sk-hashed')).tenant, 'hashed');
  });

  it('refuses a stored key once revoked, with 401 api_key_revoked', async () => {
    const digest = keyDigest('sk-stored');
    await store.saveAccount({ kind: 'key', id: 'stored', digest, createdAt: '2029-01-01T00:00:00Z', source: 'admin' });
    await directory.reload();
    assert.equal(accepted(await directory.authenticate('sk-stored')).keyId, 'stored');

    await store.saveAccount({ kind: 'key', id: 'stored', digest, createdAt: '2029-01-01T00:00:00Z', revokedAt: '2029-06-01T00:00:00Z', source: 'admin' });
    await directory.reload();
    const err = refused(await directory.authenticate('sk-stored'));
    assert.equal(err.status, 401);
    assert.equal(err.body.code, 'api_key_revoked');
  });
});

/** A store whose change notices never arrive: what a replica sees before another's notice reaches it. */
class SilentStore extends MemoryStore {
  override async subscribeAccounts(): Promise<() => Promise<void>> {
    return async () => {};
  }
}

describe('AccountDirectory: a key made on another replica a moment ago', () => {
  it('is found in the store before this replica reloads', async () => {
    const store = new SilentStore(storeOptions);
    const directory = new AccountDirectory({ auth: config({}).auth, enabled: true, store, logger });
    try {
      await directory.start();
      await store.saveAccount({ kind: 'key', id: 'fresh', digest: keyDigest('sk-fresh'), createdAt: '2029-01-01T00:00:00Z', source: 'admin', customer: 'somebody' });
      assert.equal(directory.keyById('fresh'), undefined, 'not loaded yet: the test would prove nothing otherwise');
      const client = accepted(await directory.authenticate('sk-fresh'));
      assert.equal(client.keyId, 'fresh');
      assert.equal(client.tenant, 'somebody');
    } finally {
      await directory.stop();
      await store.close();
    }
  });
});

/** A store that is down for lookups: what a replica sees while Redis is away. */
class DownStore extends MemoryStore {
  override async findKey(): Promise<undefined> {
    throw new Error('connection lost');
  }
}

describe('AccountDirectory: the store is down', () => {
  it('store_down_unknown_key_500 (fixed): an unknown key gets a 503 to retry, while a loaded key still works', async () => {
    const store = new DownStore(storeOptions);
    const directory = new AccountDirectory({ auth: config({ auth: { keys: [{ id: 'loaded', key: 'sk-loaded' }] } }).auth, enabled: true, store, logger });
    try {
      await directory.start();
      const err = refused(await directory.authenticate('sk-unknown'));
      assert.equal(err.status, 503);
      assert.equal(err.body.code, 'store_unavailable');
      assert.equal(err.headers['retry-after'], '1');
      assert.equal(accepted(await directory.authenticate('sk-loaded')).keyId, 'loaded');
    } finally {
      await directory.stop();
      await store.close();
    }
  });
});

describe('AccountDirectory: authentication off', () => {
  it('answers every caller, keyed or not, as the anonymous client', async () => {
    const store = new MemoryStore(storeOptions);
    const directory = new AccountDirectory({ auth: config({ auth: { keys: [{ key: 'sk-a' }] } }).auth, enabled: false, store, logger });
    try {
      await directory.start();
      assert.equal(await directory.authenticate(undefined), anonymousClient);
      assert.equal(await directory.authenticate('sk-nobody'), anonymousClient);
    } finally {
      await directory.stop();
      await store.close();
    }
  });
});
