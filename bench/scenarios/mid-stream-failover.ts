// What a failover costs a stream that has started: the primary streams a few tokens, one every
// 20 ms, then its connection drops; Spillway continues the answer on the backup (which streams
// at the same pace, with no latency of its own). The client times every content chunk. The fakes
// themselves put two intervals into the gap at the cut: the primary drops its connection one
// interval after its last chunk, and the backup sends its first token one interval after its
// headers. What the failover adds is that gap less those two intervals, compared with what the
// usual gap adds to one interval.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { startFakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { summarize } from '../percentiles.ts';
import { freePort, startChild, waitForOk } from '../processes.ts';
import type { GapsReport, Scenario, ScenarioContext } from '../scenario.ts';
import { benchAuth } from '../targets.ts';

const tokenIntervalMs = 20;
/** Content chunks the primary sends before its connection drops. */
const beforeCut = 4;
const requests = 300;
const concurrency = 10;

function configYaml(brokenUrl: string, backupUrl: string): string {
  const provider = (baseUrl: string): Record<string, unknown> => ({ type: 'openai-compatible', baseUrl, keys: [{ key: 'sk-bench' }], models: ['m'] });
  return stringify({
    providers: { broken: provider(brokenUrl), backup: provider(backupUrl) },
    models: { failover: { targets: ['broken/m'], fallbacks: ['backup/m'], midStream: 'continue' } },
    routing: {
      retry: { network: { attempts: 0 } },
      // A breaker that never opens: every request starts on the primary and is cut.
      breaker: { consecutiveFailures: 1_000_000_000, minRequests: 1_000_000_000 },
    },
    kafka: { partitions: { interactive: 12, batch: 12, results: 12 } },
    auth: benchAuth,
  });
}

/** Arrival times (ms) of one streamed answer's content chunks. */
async function chunkTimes(origin: string): Promise<number[]> {
  const res = await fetch(`${origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
    body: JSON.stringify({ model: 'failover', stream: true, messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten' }] }),
  });
  if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
  const times: number[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of res.body) {
    const now = performance.now();
    buffer += decoder.decode(bytes, { stream: true });
    for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
      const frame = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      if (!frame.startsWith('data: {')) continue;
      const chunk = JSON.parse(frame.slice(6)) as { choices?: { delta?: { content?: string | null } }[]; error?: unknown };
      if (chunk.error) throw new Error(`the stream ended with an error: ${frame}`);
      if (chunk.choices?.[0]?.delta?.content) times.push(now);
    }
  }
  return times;
}

async function run(ctx: ScenarioContext): Promise<GapsReport> {
  const broken = await startFakeOpenAI({ tokenIntervalMs });
  broken.setDefault({ kind: 'disconnect', afterChunks: beforeCut });
  const backup = await startFakeOpenAI({ tokenIntervalMs });
  const configFile = path.join(ctx.logDir, 'spillway-mid-stream.yaml');
  await writeFile(configFile, configYaml(broken.url, backup.url));
  const port = await freePort();
  const { child } = await startChild({
    name: 'spillway-mid-stream',
    command: ctx.options.spillwayBin,
    args: ['start'],
    env: {
      PORT: String(port),
      KAFKA_BROKERS: ctx.services.kafkaBrokers,
      REDIS_URL: ctx.services.redisUrl,
      LOG_LEVEL: 'error',
      SPILLWAY_CONFIG: configFile,
      SPILLWAY_PREFIX: `bench${Date.now().toString(36)}${randomBytes(3).toString('hex')}`,
    },
    logFile: path.join(ctx.logDir, 'spillway-mid-stream.log'),
  });
  const origin = `http://127.0.0.1:${port}`;
  const cutGaps: number[] = [];
  const usualGaps: number[] = [];
  try {
    await waitForOk(`${origin}/readyz`, 90_000, child.exited);
    for (let i = 0; i < concurrency; i++) await chunkTimes(origin); // warm-up
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          next++;
          const times = await chunkTimes(origin);
          if (times.length <= beforeCut) throw new Error(`only ${times.length} chunks: the backup did not continue`);
          for (let c = 1; c < times.length; c++) (c === beforeCut ? cutGaps : usualGaps).push(times[c] - times[c - 1]);
        }
      }),
    );
  } finally {
    await child.stop();
    await Promise.all([broken.close(), backup.close()]);
  }
  const cut = summarize(cutGaps);
  const usual = summarize(usualGaps);
  ctx.log(`  gap at the cut p50 ${cut.p50.toFixed(1)} p99 ${cut.p99.toFixed(1)} ms; usual gap p50 ${usual.p50.toFixed(1)} p99 ${usual.p99.toFixed(1)} ms`);
  return {
    kind: 'gaps',
    scenario: 'mid-stream-failover',
    measures: midStreamFailover.measures,
    setup: { 'token interval ms': tokenIntervalMs, 'chunks before the cut': beforeCut, streams: requests, concurrency, 'backup latency ms': 0 },
    rows: [
      { label: 'gap at the cut (last primary chunk → first backup chunk)', gap: cut },
      { label: 'usual gap between chunks', gap: usual },
    ],
    // (cut − 2 intervals) − (usual − 1 interval): each gap less what the fakes put into it.
    addedP50: cut.p50 - usual.p50 - tokenIntervalMs,
    addedP99: cut.p99 - usual.p99 - tokenIntervalMs,
  };
}

export const midStreamFailover: Scenario = {
  name: 'mid-stream-failover',
  measures: `Streams whose primary drops its connection after ${beforeCut} chunks and which Spillway continues on a backup: the gap the client sees at the cut, against the usual gap between chunks (${tokenIntervalMs} ms pacing).`,
  run,
};
