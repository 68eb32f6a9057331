// The dashboard's door, on the embedded gateway: off (404) without admin.key, and start-up says
// how to turn it on; with it, only the admin key opens the page, its data and its assets (401
// with a Basic challenge otherwise, client keys included), while the API still wants client keys.
// Also: the data the page polls counts this process's requests, and the key is never logged.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '#libs/config/load.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { logMatches } from '#test/support/log-lines.ts';
import type { DashboardData } from './collector.ts';

const adminKey = 'admin-0123456789-abcdefghij';
const clientKey = 'sk-spillway-client-0123456789';
const basic = (password: string, user = 'ops'): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('dashboard without admin.key (embedded)', () => {
  let gateway: TestGateway;

  before(async () => {
    gateway = await startTestGateway({ mode: 'embedded', config: { auth: { keys: [{ key: clientKey }] } } });
  });
  after(() => gateway?.close(1_000));

  it('is off: 404 for the page, its data and its assets, whatever key is sent', async () => {
    for (const path of ['/dashboard', '/dashboard/data', '/dashboard/assets/uPlot.iife.min.js']) {
      for (const authorization of [undefined, `Bearer ${clientKey}`, basic(adminKey)]) {
        const res = await fetch(`${gateway.url}${path}`, { headers: authorization ? { authorization } : {} });
        assert.equal(res.status, 404, `${path} with ${authorization ?? 'nothing'}`);
      }
    }
  });

  it('says at start-up how to turn it on', () => {
    assert.ok(
      gateway.logs.some((line) => logMatches(line, { msg: 'dashboard off: set admin.key (or SPILLWAY_ADMIN_KEY) to serve the live dashboard at /dashboard' })),
      gateway.logs.join('\n'),
    );
  });
});

describe('dashboard with admin.key (embedded)', () => {
  let gateway: TestGateway;

  before(async () => {
    gateway = await startTestGateway({
      mode: 'embedded',
      config: { auth: { keys: [{ key: clientKey }] }, admin: { key: adminKey, snapshotIntervalMs: 250 } },
    });
  });
  after(() => gateway?.close(1_000));

  const get = (path: string, authorization?: string): Promise<Response> => fetch(`${gateway.url}${path}`, { headers: authorization ? { authorization } : {} });

  it('answers 401 with a Basic challenge without the admin key, with a client key, or with a wrong one', async () => {
    for (const path of ['/dashboard', '/dashboard/data', '/dashboard/assets/uPlot.iife.min.js']) {
      for (const authorization of [undefined, `Bearer ${clientKey}`, basic(clientKey), basic('not-the-admin-key-at-all'), `Bearer ${adminKey}x`]) {
        const res = await get(path, authorization);
        assert.equal(res.status, 401, `${path} with ${authorization ?? 'nothing'}`);
        assert.equal(res.headers.get('www-authenticate'), 'Basic realm="spillway", charset="UTF-8"');
        const body = (await res.json()) as { error: { code: string } };
        assert.equal(body.error.code, 'invalid_admin_key', 'the dashboard answers, not the client-key check');
      }
    }
  });

  it('opens with the admin key by Basic (any user name) or Bearer, and serves uPlot from node_modules', async () => {
    for (const authorization of [basic(adminKey), basic(adminKey, ''), `Bearer ${adminKey}`]) {
      const page = await get('/dashboard', authorization);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      const html = await page.text();
      assert.match(html, /src="\/dashboard\/assets\/uPlot\.iife\.min\.js"/);
    }
    const uplot = await get('/dashboard/assets/uPlot.iife.min.js', basic(adminKey));
    assert.equal(uplot.status, 200);
    assert.match(uplot.headers.get('content-type') ?? '', /javascript/);
    assert.match(await uplot.text(), /uPlot/);
    for (const name of ['uPlot.min.css', 'dashboard.js', 'dashboard.css']) assert.equal((await get(`/dashboard/assets/${name}`, basic(adminKey))).status, 200, name);
    assert.equal((await get('/dashboard/assets/..%2Fdashboard.ts', basic(adminKey))).status, 404);
    assert.equal((await get('/dashboard/assets/package.json', basic(adminKey))).status, 404);
  });

  it('leaves the API to client keys: the admin key is not one', async () => {
    assert.equal((await get('/v1/models')).status, 401);
    assert.equal((await get('/v1/models', `Bearer ${adminKey}`)).status, 401);
    assert.equal((await get('/v1/models', `Bearer ${clientKey}`)).status, 200);
  });

  it('serves data that counts the requests this process finished', async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'count me' }] }),
    });
    assert.equal(res.status, 200);
    // The worker's counters reach the page through the store, a snapshot interval (250 ms) later.
    const deadline = Date.now() + 10_000;
    let data: DashboardData;
    for (;;) {
      const answer = await get('/dashboard/data', basic(adminKey));
      assert.equal(answer.status, 200);
      assert.equal(answer.headers.get('cache-control'), 'no-store');
      data = (await answer.json()) as DashboardData;
      if (data.overview.requests >= 1 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(data.overview.requests, 1, JSON.stringify(data.overview));
    assert.equal(data.durable, false);
    assert.equal(data.intervalMs, 250);
    assert.deepEqual(data.instances.map((i) => i.roles), [['ingest', 'worker', 'results']]);
    assert.ok(data.points.length >= 1);
    assert.deepEqual(data.lag?.map((l) => l.name).sort(), ['batches · results', 'results · results', 'usage · usage', 'webhooks · results', 'worker · requests.interactive', 'worker.batch · requests.batch', 'worker.delayed · requests.delayed']);
    assert.equal(data.lag?.find((l) => l.name === 'worker · requests.interactive')?.lag, 0);

    const later = (await (await get(`/dashboard/data?since=${data.points[data.points.length - 1].t}`, basic(adminKey))).json()) as DashboardData;
    assert.ok(later.points.every((p) => p.t > data.points[data.points.length - 1].t), 'since= sends only newer points');
    assert.equal((await get('/dashboard/data?since=yesterday', basic(adminKey))).status, 400);
  });

  it('never logs the admin key', () => {
    assert.ok(gateway.logs.length > 0);
    assert.equal(gateway.logs.filter((line) => line.includes(adminKey)).length, 0);
  });
});

describe('admin config', () => {
  it('takes the key from SPILLWAY_ADMIN_KEY', () => {
    assert.equal(loadConfig({ env: { SPILLWAY_ADMIN_KEY: adminKey } }).admin.key, adminKey);
    assert.equal(loadConfig({ env: {} }).admin.key, undefined);
  });

  it('refuses a short key, naming admin.key and not the key', () => {
    assert.throws(() => loadConfig({ env: { SPILLWAY_ADMIN_KEY: 'short-key' } }), (err: unknown) => err instanceof ConfigError && /admin\.key: must be at least 16 characters/.test(err.message) && !err.message.includes('short-key'));
  });
});
