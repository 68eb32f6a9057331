// The admin API (/admin/v1): customers, their teams and the teams' keys. Needs the admin
// credential (admin.key). Each change is audited first (services/admin/audit.ts), then stored;
// the store tells every replica. A key's secret is shown once, when it is made.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { AdminAuth } from '#libs/http/admin-auth.ts';
import { accountIdSchema, accountSchema, customerSchema, keyDigest, keyTermsSchema, teamSchema, type Account, type AccountKind } from '#libs/governance/accounts.ts';
import { periods } from '#libs/governance/periods.ts';
import type { Runtime } from '#libs/runtime/runtime.ts';
import { parseOrThrow } from '#services/ingest/validate.ts';
import { AuditTrail, accountFields } from './audit.ts';
import { startExpiryAudit } from './expiry-audit.ts';

const base = '/admin/v1';
const plural: Record<AccountKind, string> = { customer: 'customers', team: 'teams', key: 'keys' };
/** Fields the admin API never lets a PATCH touch. */
const fixedFields = new Set(['id', 'kind', 'digest', 'createdAt', 'revokedAt', 'source']);
const newKeySchema = keyTermsSchema.extend({ id: accountIdSchema.optional() });

export function startAdmin(runtime: Runtime): { register(app: FastifyInstance): void; stop(): void } {
  const { config, store, auth: directory, meter, logger } = runtime;
  const log = logger.child({ service: 'admin' });
  const audit = new AuditTrail(runtime.bus, runtime.topics.audit);
  // Keys from the config file expire too, admin key or not.
  const expiries = directory.enabled ? startExpiryAudit(runtime, audit) : { stop: () => undefined };
  const adminKey = config.admin.key;
  if (!adminKey) {
    log.info('admin API off: set admin.key (or SPILLWAY_ADMIN_KEY) to manage customers, teams and keys at /admin/v1');
    return { register: () => undefined, stop: expiries.stop };
  }
  const adminAuth = new AdminAuth(adminKey);

  const requireAdmin = async (req: FastifyRequest): Promise<void> => {
    if (adminAuth.check(req.headers)) return;
    log.warn({ ip: req.ip, path: req.url.split('?')[0] }, 'admin API refused: no admin key presented');
    throw new GatewayError(401, 'The admin API needs the admin key: "Authorization: Bearer <admin key>". Client keys do not open it.', { code: 'invalid_admin_key' });
  };

  /** An account as the admin API shows it, with its spend so far in each period. */
  const view = async (account: Account): Promise<Record<string, unknown>> => {
    const spend = await meter.spend(`${account.kind}:${account.id}`, [...periods], Date.now());
    return { object: `spillway.${account.kind}`, ...accountFields(account), spendUsd: Object.fromEntries(periods.map((p) => [p, (spend.get(p) ?? 0) / 1_000_000])) };
  };

  const notFound = (kind: AccountKind, id: string): GatewayError => new GatewayError(404, `No ${kind} '${id}'.`, { code: `${kind}_not_found`, param: 'id' });
  const existing = (kind: AccountKind, id: string): Account => {
    const account = directory.get(kind, id);
    if (!account) throw notFound(kind, id);
    return account;
  };
  const refuseConfigured = (kind: AccountKind, id: string): void => {
    if (directory.fromConfig(kind, id)) throw new GatewayError(409, `The ${kind} '${id}' is defined in the config file; change it there.`, { code: 'defined_in_config', param: 'id' });
  };
  /** The references an account makes must name accounts that exist. */
  const checkReferences = (account: Account): void => {
    if (account.kind === 'team' && !directory.customerById(account.customer)) throw new GatewayError(400, `Invalid value for 'customer': no customer '${account.customer}'.`, { code: 'customer_not_found', param: 'customer' });
    if (account.kind !== 'key') return;
    if (account.team !== undefined && !directory.teamById(account.team)) throw new GatewayError(400, `Invalid value for 'team': no team '${account.team}'.`, { code: 'team_not_found', param: 'team' });
    if (account.customer !== undefined && !directory.customerById(account.customer)) throw new GatewayError(400, `Invalid value for 'customer': no customer '${account.customer}'.`, { code: 'customer_not_found', param: 'customer' });
    if (account.team !== undefined && account.customer !== undefined && directory.teamById(account.team)?.customer !== account.customer) {
      throw new GatewayError(400, `Invalid value for 'customer': team '${account.team}' belongs to another customer.`, { code: 'invalid_value', param: 'customer' });
    }
  };

  /** Audits, stores, and waits until this replica's directory has it (others get it by notice). */
  const commit = async (req: FastifyRequest, action: string, before: Account | undefined, after: Account | undefined, kind: AccountKind, id: string): Promise<void> => {
    const name = req.headers['x-spillway-actor'];
    const userAgent = req.headers['user-agent'];
    await audit.append({
      actor: { credential: 'admin', ip: req.ip, ...(typeof name === 'string' && name !== '' ? { name: name.slice(0, 200) } : {}), ...(userAgent ? { userAgent } : {}) },
      action,
      target: { kind, id },
      ...(before ? { before: accountFields(before) } : {}),
      ...(after ? { after: accountFields(after) } : {}),
    });
    if (after) await store.saveAccount(after);
    else await store.deleteAccount(kind, id);
    await directory.reload();
    log.info({ action, target: `${kind}:${id}` }, 'admin change');
  };

  /** A PATCH body merged over the account: `null` removes a field; fixed fields may not be sent. */
  const patched = (account: Account, body: unknown): Account => {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new GatewayError(400, 'The request body must be a JSON object.', { code: 'invalid_request_body' });
    const { kind, ...fields } = account;
    const next: Record<string, unknown> = fields;
    for (const [field, value] of Object.entries(body)) {
      if (fixedFields.has(field)) throw new GatewayError(400, `'${field}' cannot be changed.`, { code: 'invalid_value', param: field });
      if (value === null) delete next[field];
      else next[field] = value;
    }
    return parseOrThrow(accountSchema, { ...next, kind });
  };

  const uniqueId = (kind: AccountKind, id: string | undefined): string => {
    const chosen = id ?? `${kind}_${randomBytes(9).toString('base64url')}`;
    if (directory.get(kind, chosen)) throw new GatewayError(409, `A ${kind} '${chosen}' exists already.`, { code: `${kind}_exists`, param: 'id' });
    return chosen;
  };

  return {
    stop: expiries.stop,
    register(app) {
      void app.register(async (admin) => {
        admin.addHook('onRequest', requireAdmin);

        for (const kind of ['customer', 'team', 'key'] as const) {
          admin.get(`${base}/${plural[kind]}`, async () => ({ object: 'list', data: await Promise.all(directory.list(kind).map(view)) }));
          admin.get<{ Params: { id: string } }>(`${base}/${plural[kind]}/:id`, async (req) => view(existing(kind, req.params.id)));
          admin.patch<{ Params: { id: string } }>(`${base}/${plural[kind]}/:id`, async (req) => {
            const before = existing(kind, req.params.id);
            refuseConfigured(kind, before.id);
            const after = patched(before, req.body);
            checkReferences(after);
            await commit(req, `${kind}.updated`, before, after, kind, before.id);
            return view(after);
          });
        }

        admin.post(`${base}/customers`, async (req, reply) => {
          const body = parseOrThrow(customerSchema.extend({ id: accountIdSchema.optional() }), req.body);
          const account: Account = { kind: 'customer', ...body, id: uniqueId('customer', body.id) };
          await commit(req, 'customer.created', undefined, account, 'customer', account.id);
          return reply.status(201).send(await view(account));
        });
        admin.post(`${base}/teams`, async (req, reply) => {
          const body = parseOrThrow(teamSchema.extend({ id: accountIdSchema.optional() }), req.body);
          const account: Account = { kind: 'team', ...body, id: uniqueId('team', body.id) };
          checkReferences(account);
          await commit(req, 'team.created', undefined, account, 'team', account.id);
          return reply.status(201).send(await view(account));
        });
        for (const kind of ['customer', 'team'] as const) {
          admin.delete<{ Params: { id: string } }>(`${base}/${plural[kind]}/:id`, async (req) => {
            const before = existing(kind, req.params.id);
            refuseConfigured(kind, before.id);
            const members = kind === 'customer' ? [...directory.list('team'), ...directory.list('key')].filter((a) => 'customer' in a && a.customer === before.id) : directory.list('key').filter((a) => a.kind === 'key' && a.team === before.id);
            if (members.length > 0) {
              throw new GatewayError(409, `The ${kind} '${before.id}' still has ${members.length} team(s) or key(s): move or revoke them first.`, { code: `${kind}_in_use`, param: 'id' });
            }
            await commit(req, `${kind}.deleted`, before, undefined, kind, before.id);
            return { id: before.id, object: `spillway.${kind}.deleted`, deleted: true };
          });
        }

        admin.post(`${base}/keys`, async (req, reply) => {
          const body = parseOrThrow(newKeySchema, req.body ?? {});
          const secret = `sk-spw-${randomBytes(32).toString('base64url')}`;
          const account: Account = { kind: 'key', ...body, id: uniqueId('key', body.id), digest: keyDigest(secret), createdAt: new Date().toISOString(), source: 'admin' };
          checkReferences(account);
          await commit(req, 'key.created', undefined, account, 'key', account.id);
          // The only time the secret is ever shown: only its digest is kept.
          return reply.status(201).send({ ...(await view(account)), key: secret });
        });
        admin.post<{ Params: { id: string } }>(`${base}/keys/:id/revoke`, async (req) => {
          const before = existing('key', req.params.id);
          refuseConfigured('key', before.id);
          if (before.kind !== 'key') throw notFound('key', req.params.id);
          if (before.revokedAt !== undefined) return view(before);
          const after: Account = { ...before, revokedAt: new Date().toISOString() };
          await commit(req, 'key.revoked', before, after, 'key', before.id);
          return view(after);
        });
      });
    },
  };
}
