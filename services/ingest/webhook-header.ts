// `x-spillway-webhook-url: https://…` asks for an outcome to be POSTed there, signed with
// webhooks.secret: an async request's result, or a batch's end.
import type { FastifyRequest } from 'fastify';
import { webhookSchema, type Webhook } from '#libs/contracts/envelope.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { privateLiteralHost } from '#libs/http/private-address.ts';

const webhookHeader = 'x-spillway-webhook-url';

/** The webhook a request names, if any; `allowed` is false where one cannot be honoured (a sync request). */
export function webhookOf(req: FastifyRequest, allowed: boolean, settings: { secret?: string | undefined; allowPrivateNetworks: boolean }): Webhook | undefined {
  const { secret } = settings;
  const raw = req.headers[webhookHeader];
  if (raw === undefined) return undefined;
  if (!allowed) {
    throw new GatewayError(400, `The ${webhookHeader} header is for async requests only: send it with 'Prefer: respond-async'.`, { code: 'invalid_header', param: webhookHeader });
  }
  if (secret === undefined) {
    throw new GatewayError(400, `The ${webhookHeader} header cannot be used: this gateway has no webhook signing secret configured (webhooks.secret).`, {
      code: 'webhooks_not_configured',
      param: webhookHeader,
    });
  }
  const parsed = webhookSchema.safeParse({ url: raw });
  if (!parsed.success) {
    throw new GatewayError(400, `Invalid ${webhookHeader} header: expected an absolute http or https URL.`, { code: 'invalid_header', param: webhookHeader });
  }
  const host = settings.allowPrivateNetworks ? undefined : privateLiteralHost(parsed.data.url);
  if (host !== undefined) {
    throw new GatewayError(400, `Invalid ${webhookHeader} header: ${host} is a private or loopback address, which webhooks may not reach (webhooks.allowPrivateNetworks).`, {
      code: 'invalid_header',
      param: webhookHeader,
    });
  }
  return parsed.data;
}
