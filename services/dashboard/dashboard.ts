// The live dashboard at /dashboard, behind the admin key: the page, its data (polled every
// interval) and its assets, uPlot's included, served from node_modules (no CDN: many deployments
// have no way out). Every process publishes its snapshot whether or not it serves the page.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { instanceId, type Runtime } from '#libs/runtime/runtime.ts';
import { AdminAuth, basicChallenge } from '#libs/http/admin-auth.ts';
import { Collector } from './collector.ts';
import { startPublisher } from './publisher.ts';

export interface DashboardService {
  /** Adds the dashboard's routes when an admin key is configured; without one there are none (404). */
  register(app: FastifyInstance): void;
  stop(): Promise<void>;
}

interface Asset {
  type: string;
  body: Buffer;
}

const dataQuerySchema = z.object({ since: z.coerce.number().min(0).default(0) });

// The page's own scripts and styles only, nothing inline; no framing.
const pageHeaders = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

export function startDashboard(runtime: Runtime, roles: readonly string[]): DashboardService {
  const { config, logger, store, bus } = runtime;
  const log = logger.child({ service: 'dashboard' });
  const intervalMs = config.admin.snapshotIntervalMs;
  const publisher = startPublisher({
    store,
    metrics: runtime.metrics,
    logger,
    identity: { instance: instanceId(roles.join('+') || 'gateway'), roles: [...roles], startedAt: Date.now() },
    intervalMs,
  });
  const key = config.admin.key;
  if (!key) {
    log.info('dashboard off: set admin.key (or SPILLWAY_ADMIN_KEY) to serve the live dashboard at /dashboard');
    return { register: () => undefined, stop: () => publisher.stop() };
  }

  const auth = new AdminAuth(key);
  const collector = new Collector({ store, bus, prefix: config.prefix, topics: runtime.topics, intervalMs, logger });
  const assets = loadAssets();
  const page = readFileSync(fileURLToPath(new URL('./page/index.html', import.meta.url)));
  log.info('dashboard at /dashboard: HTTP Basic with the admin key as the password (any user name), or Authorization: Bearer <admin key>');

  const requireAdmin = async (req: FastifyRequest): Promise<void> => {
    if (auth.check(req.headers)) return;
    throw new GatewayError(401, 'The dashboard needs the admin key: HTTP Basic with the admin key as the password (any user name), or "Authorization: Bearer <admin key>". Client keys do not open it.', {
      code: 'invalid_admin_key',
      headers: { 'www-authenticate': basicChallenge },
    });
  };

  return {
    register(app) {
      app.get('/dashboard', { onRequest: requireAdmin }, async (_req, reply) => reply.headers(pageHeaders).type('text/html; charset=utf-8').send(page));
      app.get('/dashboard/data', { onRequest: requireAdmin }, async (req, reply) => {
        const query = dataQuerySchema.safeParse(req.query);
        if (!query.success) throw new GatewayError(400, 'since: expected the time (epoch ms) of the last point the page has.', { param: 'since', code: 'invalid_value' });
        return reply.header('cache-control', 'no-store').send(await collector.data(query.data.since));
      });
      app.get('/dashboard/assets/:name', { onRequest: requireAdmin }, async (req, reply) => {
        const { name } = req.params as { name: string };
        const asset = Object.hasOwn(assets, name) ? assets[name] : undefined;
        if (!asset) throw new GatewayError(404, `No dashboard asset ${name}.`, { code: 'unknown_url' });
        return reply.header('cache-control', 'private, max-age=300').type(asset.type).send(asset.body);
      });
    },
    async stop() {
      await Promise.all([collector.stop(), publisher.stop()]);
    },
  };
}

/** Read once at start-up: uPlot from its package, the page's script and styles from page/. */
function loadAssets(): Record<string, Asset> {
  const uplot = (file: string): string => createRequire(import.meta.url).resolve(`uplot/dist/${file}`);
  const local = (file: string): string => fileURLToPath(new URL(`./page/${file}`, import.meta.url));
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return {
    'uPlot.iife.min.js': { type: js, body: readFileSync(uplot('uPlot.iife.min.js')) },
    'uPlot.min.css': { type: css, body: readFileSync(uplot('uPlot.min.css')) },
    'dashboard.js': { type: js, body: readFileSync(local('dashboard.js')) },
    'dashboard.css': { type: css, body: readFileSync(local('dashboard.css')) },
  };
}
