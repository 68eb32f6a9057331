// The audit trail: every admin action and key lifecycle event, appended to its own Kafka topic
// (kept for good) before the change is made. Records name accounts, never key secrets or digests.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Bus } from '#libs/bus/bus.ts';
import type { Account } from '#libs/governance/accounts.ts';

export const auditEventSchema = z.object({
  id: z.string(),
  /** When it was done (ISO 8601). */
  at: z.string(),
  /** Who did it: the admin credential, with the name and address the caller came with; `system` for what Spillway itself noticed (a key expiring). */
  actor: z.object({ credential: z.enum(['admin', 'system']), name: z.string().optional(), ip: z.string().optional(), userAgent: z.string().optional() }),
  /** What was done, e.g. `key.created`, `key.revoked`, `key.expired`, `team.updated`, `customer.deleted`. */
  action: z.string(),
  target: z.object({ kind: z.enum(['customer', 'team', 'key']), id: z.string() }),
  /** The account before and after, as the admin API shows it. */
  before: z.record(z.string(), z.unknown()).optional(),
  after: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEvent = z.infer<typeof auditEventSchema>;

/** An account as the admin API shows and audits it: never a key's digest. */
export function accountFields(account: Account): Record<string, unknown> {
  const { kind: _kind, ...fields } = account;
  return Object.fromEntries(Object.entries(fields).filter(([field]) => field !== 'digest'));
}

export class AuditTrail {
  private readonly bus: Bus;
  private readonly topic: string;

  constructor(bus: Bus, topic: string) {
    this.bus = bus;
    this.topic = topic;
  }

  /** Appends one event; resolves only once Kafka has it. */
  async append(event: Omit<AuditEvent, 'id' | 'at'>): Promise<AuditEvent> {
    const full: AuditEvent = { id: randomUUID(), at: new Date().toISOString(), ...event };
    await this.bus.produce(this.topic, [{ key: `${event.target.kind}:${event.target.id}`, value: JSON.stringify(full), headers: { 'spillway-audit-action': event.action } }]);
    return full;
  }
}
