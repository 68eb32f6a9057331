// The live dashboard in a real browser, on a split deployment: the page is served by an ingest +
// results process (this one) while a separate worker process does the calling, so what the page
// shows of fallbacks, failures and breakers can only have come through the store. Traffic with
// injected faults runs while Chromium loads the page: a primary answering 503 (its breaker opens,
// requests fall back), a provider answering 429 (its only key cools down), one failing every other
// call (500: failures and fallbacks go on at a steady rate), and a batch half done.
// Leaves a screenshot in test-artifacts/dashboard.png. Needs a Chromium (see README.md here).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chromiumPath } from './chromium-path.ts';
import { stringify } from 'yaml';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { startSpillway, type SpillwayProcess } from '#test/support/spillway-process.ts';
import { chat } from '#test/support/chat-exchange.ts';
import { cleanUpInOrder, stopOrKill } from '#test/support/cleanup.ts';
import { fakeProvider, quickRetry } from '#test/support/fake-provider.ts';

const adminKey = 'dashboard-admin-key-0123456789';
const artifacts = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const batchLines = 4;
/** The slow upstream answers this many batch lines; the rest hang until the test ends. */
const batchAnswered = 2;

describe('live dashboard in Chromium (kafka, split ingest+results / worker)', () => {
  let broken: FakeOpenAI | undefined;
  let flaky: FakeOpenAI | undefined;
  let limited: FakeOpenAI | undefined;
  let backup: FakeOpenAI | undefined;
  let slow: FakeOpenAI | undefined;
  let gateway: TestGateway | undefined;
  let worker: (SpillwayProcess & { port: number }) | undefined;
  let browser: Browser | undefined;
  let dir: string | undefined;
  let trafficStopped = false;
  let traffic: Promise<{ sent: number; failed: string[] }> | undefined;

  before(async () => {
    const { kafkaBrokers, redisUrl } = servicesEnv();
    [broken, flaky, limited, backup, slow] = await Promise.all([startFakeOpenAI(), startFakeOpenAI(), startFakeOpenAI(), startFakeOpenAI(), startFakeOpenAI()]);
    broken.setDefault({ kind: 'status', status: 503 });
    // Never three in a row, so its breaker stays closed and it keeps failing half its calls.
    flaky.enqueue(...Array.from({ length: 1_000 }, (_, i) => (i % 2 === 0 ? { kind: 'status' as const, status: 500 } : { kind: 'ok' as const })));
    limited.setDefault({ kind: 'rate-limit', retryAfterSeconds: 600 });
    slow.enqueue(...Array.from({ length: batchAnswered }, () => ({ kind: 'ok' as const })));
    slow.setDefault({ kind: 'stall', afterChunks: 0 });
    dir = await mkdtemp(path.join(tmpdir(), 'spillway-dashboard-'));
    const shared = {
      providers: {
        broken: fakeProvider(broken.url),
        flaky: fakeProvider(flaky.url),
        limited: fakeProvider(limited.url, { keys: [{ id: 'only', key: 'sk-limited' }] }),
        backup: fakeProvider(backup.url),
        slow: fakeProvider(slow.url),
      },
      models: {
        chat: { targets: ['broken/m'], fallbacks: ['backup/m'] },
        quota: { targets: ['limited/m'], fallbacks: ['backup/m'] },
        mixed: { targets: ['flaky/m'], fallbacks: ['backup/m'] },
      },
      routing: {
        retry: { overloaded: quickRetry(0), server: quickRetry(0), rate_limited: quickRetry(0), network: quickRetry(0) },
        // Three failures in a row open it, and it stays open for the test.
        breaker: { consecutiveFailures: 3, minRequests: 100_000, openMs: 600_000 },
      },
    };
    // Only the process serving the page has the admin key; every process publishes its counters.
    gateway = await startTestGateway({
      mode: 'kafka',
      roles: ['ingest', 'results'],
      // Open, explicitly: the admin key alone would turn authentication on, and this test is about the dashboard.
      config: { ...shared, files: { dir }, auth: { enabled: false }, admin: { key: adminKey, snapshotIntervalMs: 500 } },
    });
    const configFile = path.join(dir, 'worker.yaml');
    await writeFile(configFile, stringify({ ...shared, admin: { snapshotIntervalMs: 500 } }));
    worker = await startSpillway('worker', { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: gateway.prefix, SPILLWAY_CONFIG: configFile });
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  });

  after(() =>
    cleanUpInOrder(
      async () => {
        trafficStopped = true;
        await traffic;
      },
      () => browser?.close(),
      // The hanging batch lines fail fast once their upstream is gone, so the worker stops at once.
      () => slow?.close(),
      () => (worker ? stopOrKill(worker) : undefined),
      () => gateway?.close(1_000),
      () => Promise.all([broken?.close(), flaky?.close(), limited?.close(), backup?.close()]),
      () => (dir ? rm(dir, { recursive: true, force: true }) : undefined),
    ));

  /** Chat requests one after another, taking turns on the three failing primaries, until told to stop. */
  function runTraffic(url: string): Promise<{ sent: number; failed: string[] }> {
    return (async () => {
      const failed: string[] = [];
      let sent = 0;
      // Bounded in count and time; paced so a two-core machine also has room for the browser.
      const deadline = Date.now() + 120_000;
      while (!trafficStopped && sent < 2_000 && Date.now() < deadline) {
        const model = ['chat', 'mixed', 'quota'][sent % 3];
        const answer = await chat(url, { model, content: `traffic ${sent}` });
        sent++;
        const answeredBy = answer.headers.get('x-spillway-provider');
        if (answer.status !== 200 || !(answeredBy === 'backup' || (model === 'mixed' && answeredBy === 'flaky'))) failed.push(`${model}: ${answer.status} ${answeredBy} ${JSON.stringify(answer.body)}`);
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
      return { sent, failed };
    })();
  }

  async function createBatch(url: string): Promise<string> {
    const lines = Array.from({ length: batchLines }, (_, i) =>
      JSON.stringify({ custom_id: `line-${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'slow/m', messages: [{ role: 'user', content: `batch line ${i}` }] } }),
    );
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([`${lines.join('\n')}\n`], { type: 'application/jsonl' }), 'input.jsonl');
    const file = (await (await fetch(`${url}/v1/files`, { method: 'POST', body: form })).json()) as { id: string };
    const res = await fetch(`${url}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  }

  /**
   * Waits for the page to show an element, saying what it showed instead when it does not. Locators,
   * not evaluated predicates: the page's Content-Security-Policy forbids eval, rightly.
   */
  async function shows(page: Page, what: string, selector: string, hasText?: RegExp): Promise<void> {
    const locator = hasText ? page.locator(selector).filter({ hasText }) : page.locator(selector);
    await locator.first().waitFor({ timeout: 45_000 }).catch(async (err: unknown) => {
      const text = await page.locator('main').innerText().catch(() => '(no page text)');
      throw new Error(`the dashboard never showed ${what}: ${String(err)}\npage text:\n${text}`);
    });
  }

  it('shows the fallbacks, the open breaker, the cooled-down key, failures by class and the batch a worker process produced', async (t) => {
    assert.ok(gateway && browser && broken);
    const url = gateway.url;

    traffic = runTraffic(url);
    const batchId = await createBatch(url);

    const context = await browser.newContext({ httpCredentials: { username: 'ops', password: adminKey }, viewport: { width: 1600, height: 1000 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    const opened = await page.goto(`${url}/dashboard`);
    assert.equal(opened?.status(), 200);

    await shows(page, 'the primary\'s breaker open', '[data-breaker="broken/m"][data-kind="target"][data-state="open"]');
    await shows(page, 'fallbacks from broken/m to backup/m', '[data-fallback-from="broken/m"][data-fallback-to="backup/m"]');
    const fallbackTotals = await page.locator('[data-fallback-from="broken/m"][data-fallback-to="backup/m"]').evaluateAll((rows) => rows.map((row) => Number(row.getAttribute('data-total'))));
    assert.ok(fallbackTotals.length > 0 && fallbackTotals.every((n) => n > 0), `fallback counts: ${fallbackTotals.join(', ')}`);
    await shows(page, 'the rate-limited key cooling down', '[data-cooldown="limited:only"]');
    await shows(page, 'fallbacks for the rate limit', '[data-fallback-from="limited/m"][data-fallback-to="backup/m"]');
    await shows(page, 'failures attributed to overloaded', '[data-failure="overloaded"]');
    await shows(page, 'failures attributed to rate_limited', '[data-failure="rate_limited"]');
    await shows(page, 'failures attributed to server', '[data-failure="server"]');
    // Drawn: uPlot made its canvas, and the series it was last given rose above zero.
    await shows(page, 'the request rate chart drawn with traffic in it', '[data-chart="requests"][data-active="yes"] canvas');
    await shows(page, 'the fallback route chart drawn with broken/m → backup/m in it', '[data-chart="routes"][data-active="yes"] canvas');
    assert.match((await page.locator('[data-chart="routes"]').getAttribute('data-series')) ?? '', /broken\/m → backup\/m/);
    await shows(page, 'failed attempts of flaky/m charted as they happen', '[data-chart="targetFailures"][data-active="yes"] canvas');
    assert.match((await page.locator('[data-chart="targetFailures"]').getAttribute('data-series')) ?? '', /flaky\/m/);
    await shows(page, 'the latency chart drawn', '[data-chart="latency"][data-active="yes"] canvas');
    await shows(page, `the batch ${batchId} at ${batchAnswered} of ${batchLines}`, `[data-batch="${batchId}"][data-completed="${batchAnswered}"][data-total="${batchLines}"]`);
    await shows(page, 'a second live process', '[data-instance] >> nth=1');
    await shows(page, 'consumer lag for the worker group', `[data-group="${gateway.prefix}.worker"][data-topic="${gateway.prefix}.requests.interactive"]`);
    await shows(page, 'upstream latency percentiles', '#tile-latency', /\d ms$/);

    const roles = await page.locator('[data-instance] .roles').allInnerTexts();
    assert.deepEqual(roles.sort(), ['ingest+results', 'worker'], 'the worker process publishes to the page served by the ingest process');
    assert.deepEqual(problems, [], 'the page ran without errors');

    await mkdir(artifacts, { recursive: true });
    const screenshot = path.join(artifacts, 'dashboard.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    t.diagnostic(`screenshot: ${screenshot}`);

    trafficStopped = true;
    const done = await traffic;
    assert.deepEqual(done.failed, [], 'every request was answered by the fallback');
    assert.ok(done.sent > 0);
    t.diagnostic(`${done.sent} requests sent while the page was open`);
    await context.close();
  });
});
