// Resumable SSE in a real browser: Chromium's own EventSource, its stream cut mid-answer by the
// proxy in front of the gateway, reconnects by itself with Last-Event-ID and reads the rest with
// no gap and no repeat, while the generation goes on. Needs a Chromium (scripts/browser-deps.sh
// installs Debian's and prints its path; CHROMIUM_PATH names it, else PATH is searched).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { chromiumPath } from './chromium-path.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { cleanUpInOrder } from '#test/support/cleanup.ts';
import { startPageProxy, type PageProxy } from './page-proxy.ts';
import { resumePage, resumeResultSchema } from './resume-page.ts';

const words = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
// 80 tokens 60 ms apart take ~4.8 s, longer than Chromium's 3 s default reconnect delay (the
// gateway sends no `retry:`), so the browser resumes a request that is still generating.
const tokenIntervalMs = 60;
const cutAfterEvents = 5;

describe('EventSource in Chromium (kafka)', () => {
  let upstream: FakeOpenAI | undefined;
  let gateway: TestGateway | undefined;
  let proxy: PageProxy | undefined;
  let browser: Browser | undefined;

  before(async () => {
    upstream = await startFakeOpenAI({ tokenIntervalMs });
    upstream.reply = () => ({ text: words });
    gateway = await startTestGateway({
      mode: 'kafka',
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
    });
    proxy = await startPageProxy({ gatewayUrl: gateway.url, page: resumePage('openai/gpt-4o-mini', 'resume me in a browser'), cutFirstStreamAfter: cutAfterEvents });
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  });

  after(() =>
    cleanUpInOrder(
      () => browser?.close(),
      () => proxy?.close(),
      () => gateway?.close(1_000),
      () => upstream?.close(),
    ));

  it('a stream cut mid-answer is resumed by the browser with Last-Event-ID: no gap, no repeat', async (t) => {
    assert.ok(browser && proxy);
    const page = await browser.newPage();
    const consoleLines: string[] = [];
    page.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
    await page.goto(proxy.url);
    const streams = proxy.streams;
    const context = (): string => `\nproxy saw streams: ${JSON.stringify(streams)}\npage console:\n${consoleLines.join('\n')}`;

    // Reconnecting takes Chromium's 3 s default delay; the answer takes ~5 s in all.
    const handle = await page.waitForFunction('window.resumeResult', undefined, { timeout: 30_000 }).catch((err: unknown) => {
      throw new Error(`the page left no result: ${String(err)}${context()}`);
    });
    const result = resumeResultSchema.parse(await handle.jsonValue());
    await handle.dispose();

    assert.equal(result.failure, null, `the page stopped short of [DONE]${context()}`);
    assert.equal(result.text, words, `the text read across the reconnect is the upstream's exactly${context()}`);
    for (let i = 1; i < result.eventIds.length; i++) {
      assert.ok(result.eventIds[i] > result.eventIds[i - 1], `event ids increase, no repeat: ${JSON.stringify(result.eventIds)}`);
    }
    assert.ok(result.opens >= 2 && result.lastEventIdAtErrors.length >= 1, `the EventSource reconnected: ${JSON.stringify(result)}`);

    const [first, resumed] = streams;
    assert.ok(first?.cut, `the proxy cut the first stream${context()}`);
    assert.equal(first.lastEventId, undefined, 'the first stream starts from the beginning');
    assert.ok(resumed, `the browser came back for the rest${context()}`);
    const lastForwarded = first.forwardedIds.at(-1);
    assert.ok(lastForwarded !== undefined && lastForwarded > 0);
    // The frames still in flight when a connection dies may never reach the page (Chromium drops
    // the read that ends in the error), so the browser may resume from before the last forwarded.
    const lastGot = Number(result.lastEventIdAtErrors[0]);
    assert.ok(lastGot >= 1 && lastGot <= lastForwarded, `the page had events 1..${String(lastGot)} of the ${String(lastForwarded)} forwarded${context()}`);
    assert.equal(resumed.lastEventId, String(lastGot), `the reconnect carries the id of the last event the browser got${context()}`);
    assert.deepEqual(result.eventIds, [...first.forwardedIds.filter((id) => id <= lastGot), ...resumed.forwardedIds], 'the browser got exactly what the two streams carried, up to its resume point');
    t.diagnostic(`first stream cut after events ${first.forwardedIds.join(',')}; resumed ${resumed.openedAt - (first.lastEventAt ?? 0)} ms later with Last-Event-ID ${String(resumed.lastEventId)}, which carried ${resumed.forwardedIds.length} events over ${(resumed.lastEventAt ?? resumed.openedAt) - resumed.openedAt} ms`);
    await page.close();
  });
});
