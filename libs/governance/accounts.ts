// Who may call the gateway and on what terms: customers, their teams, and the teams' keys. One
// shape for the config file, the admin API and the store. A key is kept only as the SHA-256
// digest of its secret.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { periods } from './periods.ts';

export const accountIdSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'ids are 1 to 64 letters, digits, ".", "_" and "-"');

export const limitsSchema = z.strictObject({
  /** Requests per minute (a sliding 60 s window, shared by every replica). */
  rpm: z.number().int().positive().optional(),
  /** Tokens per minute: prompt (estimated) plus max_tokens at admission, corrected by actual usage. */
  tpm: z.number().int().positive().optional(),
});

export const budgetSchema = z.strictObject({
  /** Money, in US dollars, that may be spent per period (priced from the `pricing` table). */
  usd: z.number().min(0.000001, 'must be at least 0.000001 (one micro-dollar)'),
  period: z.enum(periods),
});

/** What every level of the hierarchy can carry. */
const termsFields = {
  name: z.string().max(200).optional(),
  /** Models and aliases this level may use (glob patterns, e.g. `gpt-4o*`); unset means all. */
  models: z.array(z.string().min(1)).optional(),
  limits: limitsSchema.optional(),
  budgets: z.array(budgetSchema).optional(),
};

export const customerSchema = z.strictObject({ id: accountIdSchema, ...termsFields });
export type Customer = z.infer<typeof customerSchema>;

export const teamSchema = z.strictObject({ id: accountIdSchema, customer: accountIdSchema, ...termsFields });
export type Team = z.infer<typeof teamSchema>;

/** What a key carries besides its secret: editable through the admin API. */
export const keyTermsSchema = z.strictObject({
  ...termsFields,
  /** The team the key belongs to (and through it, the team's customer). */
  team: accountIdSchema.optional(),
  /** The key's customer when it has no team. */
  customer: accountIdSchema.optional(),
  /** Fallback models per requested model (`*` for any), used when a request names none of its own. */
  fallbacks: z.record(z.string().min(1), z.array(z.string().min(1))).optional(),
  /** The key stops working at this instant (ISO 8601). */
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

export const keyRecordSchema = keyTermsSchema.extend({
  id: accountIdSchema,
  /** SHA-256 of the secret, hex. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.iso.datetime({ offset: true }),
  revokedAt: z.iso.datetime({ offset: true }).optional(),
  /** Where it is defined: the config file's keys cannot be changed through the admin API. */
  source: z.enum(['config', 'admin']),
});
export type KeyRecord = z.infer<typeof keyRecordSchema>;

export const accountSchema = z.discriminatedUnion('kind', [
  customerSchema.extend({ kind: z.literal('customer') }),
  teamSchema.extend({ kind: z.literal('team') }),
  keyRecordSchema.extend({ kind: z.literal('key') }),
]);
/** One stored account: a customer, a team or a key, tagged with its kind. */
export type Account = z.infer<typeof accountSchema>;
export type AccountKind = Account['kind'];

export function keyDigest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
