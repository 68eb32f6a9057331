// An audit record: one admin action or key lifecycle event, as the admin API appends it to
// <prefix>.audit (kept for good), keyed by the account it is about.
import { z } from 'zod';

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
