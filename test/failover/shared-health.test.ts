// Three workers (this process's and two spillway worker processes, one prefix, one consumer
// group) share provider health through Redis. An open circuit breaker: once failures open it on
// one worker, every worker says so, and requests handled by each of them skip the broken target at
// no cost — one attempt, on the fallback, and the broken upstream sees nothing more. A key cooldown:
// a key one worker saw refused (401) is used by no worker afterwards.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { startSpillway, type SpillwayProcess } from '#test/support/spillway-process.ts';
import { attemptSummary, chat, storedResult, type ChatAnswer } from '#test/support/chat-exchange.ts';
import { fakeProvider, quickRetry } from '#test/support/fake-provider.ts';
import { logFields, logMatches, waitForLog } from '#test/support/log-lines.ts';
import { metricValue, scrapeMetrics } from '#test/support/prometheus-text.ts';

interface WorkerView {
  name: string;
  lines: readonly string[];
  metricsUrl: string;
}

const breakerOpen = { msg: 'circuit breaker open', breaker: 'target', id: 'broken/m' };
const batch = 6;
const maxBatches = 15;

describe('three workers share provider health (kafka)', () => {
  const { kafkaBrokers, redisUrl } = servicesEnv();
  let broken: FakeOpenAI;
  let backup: FakeOpenAI;
  let keyed: FakeOpenAI;
  let gateway: TestGateway;
  let configDir: string;
  const processes: (SpillwayProcess & { port: number })[] = [];
  let workers: WorkerView[] = [];

  before(async () => {
    [broken, backup, keyed] = await Promise.all([startFakeOpenAI(), startFakeOpenAI(), startFakeOpenAI({ validKeys: ['sk-good'] })]);
    // Six partitions, so each of the three workers owns some; the same counts in every process.
    const config = {
      kafka: { partitions: { interactive: 6, batch: 2, results: 2 } },
      providers: {
        broken: fakeProvider(broken.url),
        backup: fakeProvider(backup.url),
        keyed: fakeProvider(keyed.url, { keys: [{ id: 'bad', key: 'sk-bad', weight: 1000 }, { id: 'good', key: 'sk-good', weight: 1 }] }),
      },
      models: { chat: { targets: ['broken/m'], fallbacks: ['backup/m'] } },
      routing: {
        retry: { overloaded: quickRetry(0) },
        // Three failures in a row open it; the rate rule and the half-open probes stay out of the way.
        breaker: { consecutiveFailures: 3, minRequests: 100_000, openMs: 600_000 },
      },
    };
    gateway = await startTestGateway({ mode: 'kafka', config });
    configDir = await mkdtemp(path.join(tmpdir(), 'spillway-breaker-'));
    const configFile = path.join(configDir, 'worker.yaml');
    await writeFile(configFile, stringify(config));
    const env = { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: gateway.prefix, SPILLWAY_CONFIG: configFile };
    processes.push(...(await Promise.all([startSpillway('worker', env), startSpillway('worker', env)])));
    workers = [
      { name: 'in-process worker', lines: gateway.logs, metricsUrl: gateway.url },
      ...processes.map((p, i) => ({ name: `worker process ${i + 1}`, lines: p.output, metricsUrl: `http://127.0.0.1:${p.port}` })),
    ];
  });

  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await gateway?.close(1_000);
    await Promise.all([broken?.close(), backup?.close(), keyed?.close()]);
    if (configDir) await rm(configDir, { recursive: true, force: true });
  });

  /** Which worker completed each request, from their 'request completed' log lines. */
  async function handlers(answers: readonly ChatAnswer[], timeoutMs = 10_000): Promise<string[]> {
    const ids = answers.map((a) => a.requestId);
    const found = new Map<string, string>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const worker of workers) {
        for (const line of worker.lines) {
          const fields = logFields(line);
          if (fields?.msg === 'request completed' && typeof fields.requestId === 'string' && ids.includes(fields.requestId)) found.set(fields.requestId, worker.name);
        }
      }
      if (found.size === ids.length) return ids.map((id) => found.get(id) ?? '');
      if (Date.now() >= deadline) throw new Error(`no worker logged completing ${ids.filter((id) => !found.has(id)).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Sends batches until every worker has completed at least one request; checks each answer. */
  async function untilEveryWorkerServed(model: string, check: (answer: ChatAnswer) => void): Promise<Set<string>> {
    const served = new Set<string>();
    for (let i = 0; i < maxBatches && served.size < workers.length; i++) {
      const answers = await Promise.all(Array.from({ length: batch }, (_, j) => chat(gateway.url, { model, content: `batch ${i} request ${j}` })));
      for (const answer of answers) check(answer);
      for (const name of await handlers(answers)) served.add(name);
    }
    return served;
  }

  it('every worker skips the target whose breaker another worker opened, at no cost', async () => {
    // All three workers own partitions: each has answered a request from the (still healthy) primary.
    const warmed = await untilEveryWorkerServed('chat', (answer) => {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.headers.get('x-spillway-provider'), 'broken');
    });
    assert.equal(warmed.size, workers.length, `only ${[...warmed].join(', ')} took requests`);

    // The primary breaks; requests fall back until three failures in a row open its breaker.
    broken.setDefault({ kind: 'status', status: 503 });
    let opened = false;
    for (let i = 0; i < 30 && !opened; i++) {
      const answer = await chat(gateway.url, { model: 'chat', content: `failing ${i}` });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
      opened = workers.some((w) => w.lines.some((line) => logMatches(line, breakerOpen)));
    }
    assert.ok(opened, 'the breaker never opened');
    await Promise.all(workers.map((w) => waitForLog(w.lines, breakerOpen, { what: `"circuit breaker open" for broken/m from the ${w.name}` })));
    for (const w of workers) {
      const metrics = await scrapeMetrics(w.metricsUrl);
      assert.equal(metricValue(metrics, 'spillway_breaker_state', { kind: 'target', id: 'broken/m', state: 'open' }), 1, `${w.name} reports the breaker open`);
    }

    // Every worker now goes straight to the fallback: one attempt, and the primary sees nothing.
    const brokenCalls = broken.requests.length;
    let sample: ChatAnswer | undefined;
    const served = await untilEveryWorkerServed('chat', (answer) => {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.headers.get('x-spillway-provider'), 'backup');
      assert.equal(answer.headers.get('x-spillway-attempts'), '1', 'the open target is skipped, not tried');
      sample ??= answer;
    });
    assert.equal(served.size, workers.length, `only ${[...served].join(', ')} took requests after the breaker opened`);
    assert.equal(broken.requests.length, brokenCalls, 'the broken upstream received no further requests');
    assert.ok(sample);
    const stored = await storedResult(gateway.url, sample.requestId);
    assert.deepEqual(attemptSummary(stored.attempts), [{ target: 'backup/m', status: 200 }]);
  });

  it('a key one worker saw refused (401) is used by no worker afterwards', async () => {
    // Weights 1000:1 make the bad key every worker's first pick, unless it knows the key is out.
    let refusedBy: string | undefined;
    for (let i = 0; i < 10 && refusedBy === undefined; i++) {
      const k0 = keyed.requests.length;
      const answer = await chat(gateway.url, { model: 'keyed/m', content: `find the bad key ${i}` });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      if (keyed.requests[k0]?.apiKey === 'sk-bad') [refusedBy] = await handlers([answer]);
    }
    assert.ok(refusedBy, 'the bad key was never picked');

    const k1 = keyed.requests.length;
    const served = await untilEveryWorkerServed('keyed/m', (answer) => {
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.headers.get('x-spillway-attempts'), '1', 'no worker tries the refused key again');
    });
    assert.equal(served.size, workers.length, `only ${[...served].join(', ')} took requests`);
    const keys = new Set(keyed.requests.slice(k1).map((r) => r.apiKey));
    assert.deepEqual([...keys], ['sk-good'], `the key refused on the ${refusedBy} stays out everywhere`);
  });
});
