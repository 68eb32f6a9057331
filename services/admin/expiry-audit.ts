// Audits keys as they expire: once per key and expiry, by whichever replica notices first (a
// claim in the store), on the audit topic beside the admin actions.
import type { Runtime } from '#libs/runtime/runtime.ts';
import { accountFields, type AuditTrail } from './audit.ts';

/** How long a replica's claim to audit one expiry is kept: past it, a stale expiry is not audited again by luck of timing. */
const claimTtlSeconds = 400 * 86_400;

export function startExpiryAudit(runtime: Runtime, audit: AuditTrail): { stop(): void } {
  const { auth: directory, store, logger } = runtime;
  const log = logger.child({ service: 'admin' });
  /** Expiries this replica claimed but could not append yet: tried again on the next round. */
  const owed = new Set<string>();

  async function round(): Promise<void> {
    const now = Date.now();
    for (const account of directory.list('key')) {
      if (account.kind !== 'key' || account.expiresAt === undefined || account.revokedAt !== undefined || Date.parse(account.expiresAt) > now) continue;
      const name = `key-expired:${account.id}:${account.expiresAt}`;
      if (!owed.has(name) && !(await store.claimOnce(name, claimTtlSeconds))) continue;
      owed.add(name);
      await audit.append({ actor: { credential: 'system', name: 'spillway' }, action: 'key.expired', target: { kind: 'key', id: account.id }, after: accountFields(account) });
      owed.delete(name);
    }
  }

  const timer = setInterval(() => {
    round().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not audit key expiries; trying again next round'));
  }, Math.min(runtime.config.auth.refreshIntervalMs, 10_000));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
