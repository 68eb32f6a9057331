// The HTTP front every service shares: OpenAI-shaped errors for everything that goes wrong
// (bad JSON, body too large, unknown path, wrong method), health, readiness and metrics.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { GatewayError, errorBody, errorTypeFor } from '#libs/contracts/openai-error.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import { anonymousClient, presentedKey, type Client } from './client-auth.ts';
import type { AccountDirectory } from '#libs/governance/directory.ts';
import type { Metrics } from '#libs/telemetry/metrics.ts';

export interface AppOptions {
  logger: Logger;
  metrics: Metrics;
  bodyLimitBytes: number;
  ready: () => Promise<boolean>;
  /** Who may call; health, readiness and metrics are open whatever it says. */
  auth: AccountDirectory;
}

const openPaths = new Set(['/healthz', '/readyz', '/metrics']);
/** The dashboard and the admin API check the admin key themselves; a client key does not open them. */
const ownAuthPath = /^\/(dashboard|admin)(\/|$)/;

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request, by its client key (anonymous when the API is open). */
    client: Client;
  }
}

export function createApp(opts: AppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    // Per-request lines come from the services themselves, one per request with its id.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
    requestIdHeader: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  // The API takes JSON only; any other body is a 415, not a string handed to a JSON schema.
  app.removeContentTypeParser('text/plain');
  // An empty JSON body is no body, not a parse error: a POST that needs none (a revoke, a cancel)
  // may still come with `content-type: application/json` from a JSON client.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => (body === '' ? done(null, undefined) : parseJson(req, String(body), done)));
  const methodsByUrl = new Map<string, Set<string>>();

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const set = methodsByUrl.get(route.url) ?? new Set<string>();
    for (const m of methods) set.add(m);
    methodsByUrl.set(route.url, set);
  });

  // Fastify takes no shared object as a decoration's default: each request gets its own value.
  app.decorateRequest('client', null as unknown as Client);
  app.addHook('onRequest', async (req) => {
    req.client = anonymousClient;
    const path = req.url.split('?')[0] ?? '';
    if (!opts.auth.enabled || openPaths.has(path) || ownAuthPath.test(path)) return;
    const client = await opts.auth.authenticate(presentedKey(req.headers));
    if (client instanceof GatewayError) throw client;
    req.client = client;
  });

  app.addHook('onResponse', async (req, reply) => {
    opts.metrics.httpRequests.inc({ route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });

  app.setErrorHandler((err: FastifyError | GatewayError, req, reply) => {
    const error = asGatewayError(err, req, opts.bodyLimitBytes);
    return reply.status(error.status).headers(error.headers).send(errorBody(error.body));
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    const allowed = [...methodsByUrl.entries()].find(([url]) => matchesRoute(url, path))?.[1];
    if (allowed && !allowed.has(req.method)) {
      const allow = [...allowed].filter((m) => m !== 'HEAD').join(', ');
      return reply
        .status(405)
        .header('allow', allow)
        .send(errorBody({ message: `Method ${req.method} is not allowed for ${path}; use ${allow}.`, type: 'invalid_request_error', param: null, code: 'method_not_allowed' }));
    }
    return reply.status(404).send(errorBody({ message: `Unknown request URL: ${req.method} ${path}.`, type: 'invalid_request_error', param: null, code: 'unknown_url' }));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = await opts.ready();
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_req, reply) => {
    return reply.header('content-type', opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics());
  });
  return app;
}

/**
 * Any error a route or the framework raised, as the GatewayError a client is answered with (a
 * surface with its own error shape renders it in that shape). Unexpected failures are logged.
 */
export function asGatewayError(err: FastifyError | GatewayError, req: FastifyRequest, bodyLimitBytes: number): GatewayError {
  if (err instanceof GatewayError) return err;
  const status = err.statusCode ?? 500;
  if (status >= 500) req.log.error({ err }, 'unhandled error');
  return new GatewayError(status, describeFrameworkError(err, bodyLimitBytes), { code: frameworkCode(err), type: errorTypeFor(status) });
}

function matchesRoute(pattern: string, path: string): boolean {
  const a = pattern.split('/');
  const b = path.split('/');
  return a.length === b.length && a.every((seg, i) => seg.startsWith(':') || seg === b[i]);
}

function frameworkCode(err: FastifyError): string | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'request_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported_media_type';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'invalid_json';
    default:
      return err.statusCode === 400 && err instanceof SyntaxError ? 'invalid_json' : null;
  }
}

function describeFrameworkError(err: FastifyError, bodyLimit: number): string {
  switch (frameworkCode(err)) {
    case 'request_too_large':
      return `The request body exceeds the limit of ${bodyLimit} bytes.`;
    case 'unsupported_media_type':
      return 'Unsupported Content-Type: send the request body as application/json.';
    case 'invalid_json':
      return `We could not parse the JSON body of your request: ${err.message}. The API expects a JSON payload.`;
    default:
      return (err.statusCode ?? 500) >= 500 ? 'The server had an error while processing your request.' : err.message;
  }
}
