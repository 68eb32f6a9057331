// Streams over WebSocket: many concurrent streams on one Spillway process, from an upstream that
// sends one word every tokenIntervalMs. Reports the gap the gateway adds per token (the
// client's inter-token gap minus the upstream's interval: the worker's publish to Redis, Redis
// to ingest, ingest to the socket), the time to first token, and RSS per open stream.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { summarize } from '../percentiles.ts';
import { memoryOf, readMemory } from '../processes.ts';
import type { RealtimeReport, RealtimeRun, Scenario, ScenarioContext } from '../scenario.ts';
import { prime, startSpillway, startUpstream } from '../targets.ts';
import { processPids } from './process-pids.ts';

const tokenIntervalMs = 50;
const streamsPerSocket = 10;
/** Concurrent streams per run: a light load, then one that keeps both cores busy. */
const streamCounts = [100, 500];
// Twenty words: the fake echoes them back as 21 text chunks, so each stream has 20 gaps.
const prompt = Array.from({ length: 20 }, (_, i) => `word${i}`).join(' ');
const body = { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: prompt }] };

interface Stream {
  sentAt: number;
  chunks: number[];
  done: boolean;
  failed: string | undefined;
}

async function run(ctx: ScenarioContext): Promise<RealtimeReport> {
  const upstream = await startUpstream({ latencyMs: 0, tokenIntervalMs, logDir: ctx.logDir, label: 'realtime' });
  const spillway = await startSpillway({ bin: ctx.options.spillwayBin, upstream, services: ctx.services, workerConcurrency: 1024, logDir: ctx.logDir, label: 'realtime' });
  try {
    await prime(spillway, JSON.stringify(body), 60_000);
    const pids = processPids(ctx, { spillway, upstream: upstream.child });
    const runs: RealtimeRun[] = [];
    for (const count of streamCounts) runs.push(await measure(ctx, spillway.origin, spillway.child.pid, count / streamsPerSocket, pids));
    return {
      kind: 'realtime',
      scenario: 'realtime',
      measures: realtime.measures,
      setup: { 'streams per socket': streamsPerSocket, 'upstream token interval ms': tokenIntervalMs, 'text chunks per stream': 21 },
      runs,
    };
  } finally {
    await spillway.child.stop();
    await upstream.child.stop();
  }
}

async function measure(ctx: ScenarioContext, origin: string, pid: number, sockets: number, pids: Record<string, number>): Promise<RealtimeRun> {
  const idle = await readMemory(pid);
  const url = `${origin.replace('http', 'ws')}/v1/realtime`;
  const clients = await Promise.all(
    Array.from({ length: sockets }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization: 'Bearer sk-bench' } });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  const streams = new Map<string, Stream>();
  const byRef = new Map<string, Stream>();
  let finished = 0;
  const total = sockets * streamsPerSocket;
  let allDone = (): void => undefined;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  for (const ws of clients) {
    ws.on('message', (raw) => {
      const at = performance.now();
      const frame = JSON.parse(String(raw)) as { type: string; ref?: string; id?: string; data?: { choices?: { delta?: { content?: string | null } }[] }; error?: { code?: string } };
      if (frame.type === 'accepted' && frame.ref && frame.id) {
        const s = byRef.get(frame.ref);
        if (s) streams.set(frame.id, s);
        return;
      }
      const s = frame.id ? streams.get(frame.id) : frame.ref ? byRef.get(frame.ref) : undefined;
      if (!s) return;
      if (frame.type === 'chunk' && frame.data?.choices?.[0]?.delta?.content) s.chunks.push(at);
      if (frame.type === 'done' || frame.type === 'error') {
        s.done = frame.type === 'done';
        s.failed = frame.type === 'error' ? (frame.error?.code ?? 'error') : undefined;
        if (++finished === total) allDone();
      }
    });
  }
  // All streams start within about a second, so they are all open at once for the ~1 s each lasts.
  for (let r = 0; r < streamsPerSocket; r++) {
    clients.forEach((ws, i) => {
      const ref = `s${i}r${r}`;
      byRef.set(ref, { sentAt: performance.now(), chunks: [], done: false, failed: undefined });
      ws.send(JSON.stringify({ type: 'request', ref, body }));
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let peakRss = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const m = await readMemory(pid);
      if (m && m.rssMb > peakRss) peakRss = m.rssMb;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  await done;
  sampling = false;
  await sampler;
  for (const ws of clients) ws.close();
  const all = [...byRef.values()];
  const gaps = all.flatMap((s) => s.chunks.slice(1).map((t, i) => t - (s.chunks[i] ?? t) - tokenIntervalMs));
  const ttft = all.flatMap((s) => (s.chunks[0] === undefined ? [] : [s.chunks[0] - s.sentAt]));
  const errors: Record<string, number> = {};
  for (const s of all) if (s.failed) errors[s.failed] = (errors[s.failed] ?? 0) + 1;
  const report: RealtimeRun = {
    sockets,
    streams: total,
    ok: all.filter((s) => s.done).length,
    errors,
    addedPerToken: summarize(gaps),
    firstToken: summarize(ttft),
    idleRssMb: idle?.rssMb ?? Number.NaN,
    peakRssMb: peakRss,
    mbPerStream: (peakRss - (idle?.rssMb ?? Number.NaN)) / total,
    memory: await memoryOf(pids),
  };
  ctx.log(`  ${total} streams: ok ${report.ok}, added per token p50 ${report.addedPerToken.p50.toFixed(1)} p99 ${report.addedPerToken.p99.toFixed(1)} ms, TTFT p50 ${report.firstToken.p50.toFixed(1)} ms, RSS ${idle?.rssMb.toFixed(0)} → ${peakRss.toFixed(0)} MB`);
  return report;
}

export const realtime: Scenario = {
  name: 'realtime',
  measures: `${streamCounts.join(' and ')} concurrent streams over WebSocket (${streamsPerSocket} per socket), upstream one word every ${tokenIntervalMs} ms: the gap the gateway adds per token, time to first token, and RSS per open stream.`,
  run,
};
