// Every replica's copy of the accounts: the config file's, and those the admin API stored. A
// change anywhere reaches every replica at once (a notice through the store), and each also
// reloads everything on an interval and after a reconnect, in case a notice was missed.
import { GatewayError } from '#libs/contracts/openai-error.ts';
import type { Config } from '#libs/config/schema.ts';
import { anonymousClient, type Client } from '#libs/http/client-auth.ts';
import type { Store } from '#libs/store/store.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import { keyDigest, type Account, type AccountKind, type Customer, type KeyRecord, type Team } from './accounts.ts';

/** A key with the team and customer it belongs to, as they stand now. */
export interface Principal {
  key: KeyRecord;
  team?: Team | undefined;
  customer?: Customer | undefined;
}

export interface DirectoryOptions {
  auth: Config['auth'];
  enabled: boolean;
  store: Store;
  logger: Logger;
  now?: () => number;
}

const keyHelp = 'Send a Spillway key as "Authorization: Bearer <key>" (or "x-api-key: <key>").';

export class AccountDirectory {
  readonly enabled: boolean;
  private readonly configured = new Map<string, Account>();
  private accounts = new Map<string, Account>();
  private byDigest = new Map<string, KeyRecord>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private issued = 0;
  private applied = 0;
  private readonly now: () => number;

  private readonly opts: DirectoryOptions;

  constructor(opts: DirectoryOptions) {
    this.opts = opts;
    this.enabled = opts.enabled;
    this.now = opts.now ?? Date.now;
    const createdAt = new Date().toISOString();
    for (const customer of opts.auth.customers) this.configured.set(`customer:${customer.id}`, { kind: 'customer', ...customer });
    for (const team of opts.auth.teams) this.configured.set(`team:${team.id}`, { kind: 'team', ...team });
    opts.auth.keys.forEach(({ key, keyHash, tenant, id, ...terms }, i) => {
      const keyId = id ?? `key-${i + 1}`;
      const digest = keyHash !== undefined ? keyHash.slice('sha256:'.length) : keyDigest(key ?? '');
      this.configured.set(`key:${keyId}`, { kind: 'key', ...terms, customer: terms.customer ?? tenant, id: keyId, digest, createdAt, source: 'config' });
    });
    this.index([]);
  }

  /** Loads the stored accounts and starts following changes. */
  async start(): Promise<void> {
    if (!this.enabled) return;
    this.unsubscribe = await this.opts.store.subscribeAccounts(() => this.refresh());
    this.opts.store.onReconnect(() => this.refresh());
    await this.reload();
    this.timer = setInterval(() => this.refresh(), this.opts.auth.refreshIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.unsubscribe?.();
  }

  /** Reloads every account (a notice came, or the interval passed); failures keep the ones loaded. */
  refresh(): void {
    this.reload().catch((err: unknown) => this.opts.logger.warn({ err: (err as Error).message }, 'could not reload the accounts; keeping the ones loaded'));
  }

  /**
   * Reloads every account now. Reads reach the store in the order they are issued, so a reload
   * answered late never overwrites what a later one loaded.
   */
  async reload(): Promise<void> {
    const seq = ++this.issued;
    const stored = await this.opts.store.loadAccounts();
    if (seq < this.applied) return;
    this.applied = seq;
    this.index(stored);
  }

  /** The caller a presented key names, or the 401 it gets. Anonymous when authentication is off. */
  async authenticate(secret: string | undefined): Promise<Client | GatewayError> {
    if (!this.enabled) return anonymousClient;
    if (!secret) return new GatewayError(401, `Missing API key. ${keyHelp}`, { code: 'invalid_api_key', type: 'invalid_request_error' });
    const digest = keyDigest(secret);
    // A key made on another replica a moment ago may not have reached this one yet.
    let key = this.byDigest.get(digest);
    if (!key) {
      try {
        key = await this.opts.store.findKey(digest);
      } catch {
        return new GatewayError(503, 'The gateway cannot check API keys right now: its store is unavailable. Retry after a moment.', { code: 'store_unavailable', type: 'service_unavailable', headers: { 'retry-after': '1' } });
      }
    }
    if (!key) return new GatewayError(401, `Incorrect API key provided. ${keyHelp}`, { code: 'invalid_api_key', type: 'invalid_request_error' });
    if (key.revokedAt !== undefined) return new GatewayError(401, `This API key (${key.id}) was revoked at ${key.revokedAt}.`, { code: 'api_key_revoked', type: 'invalid_request_error' });
    if (key.expiresAt !== undefined && Date.parse(key.expiresAt) <= this.now()) {
      return new GatewayError(401, `This API key (${key.id}) expired at ${key.expiresAt}.`, { code: 'api_key_expired', type: 'invalid_request_error' });
    }
    const principal = this.principalOf(key);
    return { keyId: key.id, tenant: principal.customer?.id ?? key.customer ?? principal.team?.customer ?? key.id, principal };
  }

  /** A key with its team and customer. */
  principalOf(key: KeyRecord): Principal {
    const team = key.team !== undefined ? this.teamById(key.team) : undefined;
    const customerId = team?.customer ?? key.customer;
    return { key, team, customer: customerId !== undefined ? this.customerById(customerId) : undefined };
  }

  get(kind: AccountKind, id: string): Account | undefined {
    return this.accounts.get(`${kind}:${id}`);
  }

  list(kind: AccountKind): Account[] {
    return [...this.accounts.values()].filter((a) => a.kind === kind).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Accounts from the config file: the admin API may not change them. */
  fromConfig(kind: AccountKind, id: string): boolean {
    return this.configured.has(`${kind}:${id}`);
  }

  keyById(id: string): KeyRecord | undefined {
    const account = this.get('key', id);
    return account?.kind === 'key' ? account : undefined;
  }

  teamById(id: string): Team | undefined {
    const account = this.get('team', id);
    return account?.kind === 'team' ? account : undefined;
  }

  customerById(id: string): Customer | undefined {
    const account = this.get('customer', id);
    return account?.kind === 'customer' ? account : undefined;
  }

  private index(stored: Account[]): void {
    const accounts = new Map<string, Account>();
    for (const account of stored) accounts.set(`${account.kind}:${account.id}`, account);
    // The config file wins over a stored account of the same name.
    for (const [ref, account] of this.configured) accounts.set(ref, account);
    const byDigest = new Map<string, KeyRecord>();
    for (const account of accounts.values()) if (account.kind === 'key') byDigest.set(account.digest, account);
    this.accounts = accounts;
    this.byDigest = byDigest;
  }
}

/** Whether authentication is on: unless turned off, except in the embedded default with nothing about it configured. */
export function authEnabled(config: Config, embedded: boolean): boolean {
  if (config.auth.enabled !== undefined) return config.auth.enabled;
  return !embedded || config.auth.keys.length > 0 || config.admin.key !== undefined;
}
