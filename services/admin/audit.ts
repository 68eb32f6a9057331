// The audit trail: every admin action and key lifecycle event, appended to its own Kafka topic
// (kept for good) before the change is made. Records name accounts, never key secrets or digests.
import { randomUUID } from 'node:crypto';
import type { Bus } from '#libs/bus/bus.ts';
import type { AuditEvent } from '#libs/contracts/audit.ts';
import type { Account } from '#libs/governance/accounts.ts';

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
