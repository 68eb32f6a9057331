// Ad-hoc: CPU milliseconds Spillway spends per request (user+system from /proc), at a modest
// fixed rate, so the number does not depend on how busy the machine is. Not part of npm run bench yet.
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { startChild, freePort, nodeScript, repoRoot } from './processes.ts';

const rate = Number(process.env.RATE ?? 200);
const total = Number(process.env.TOTAL ?? 3000);
const stream = process.env.STREAM === '1';

async function cpuMs(pid: number): Promise<number> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return ((Number(stat[11]) + Number(stat[12])) * 1000) / 100;
}

const dir = await mkdtemp(path.join(tmpdir(), 'cpu-probe-'));
const fake = await startChild({ name: 'upstream', command: nodeScript, args: ['test/fakes/openai-upstream.ts', '--port', '0'], logFile: path.join(dir, 'fake.log'), announce: 'FAKE_OPENAI_URL' });
const yaml = path.join(dir, 'spillway.yaml');
await writeFile(yaml, `providers:\n  openai: { type: openai, baseUrl: ${fake.announced}, keys: [{ key: sk-bench }], models: [gpt-4o-mini] }\nworker: { concurrency: 1024 }\nkafka: { client: ${process.env.KAFKA_CLIENT ?? "kafkajs"} }\n`);
const port = await freePort();
const spill = await startChild({
  name: 'spillway',
  command: path.join(repoRoot, 'bin/spillway'),
  args: ['start', '--port', String(port), '--host', '127.0.0.1'],
  env: { SPILLWAY_CONFIG: yaml, LOG_LEVEL: 'warn', SPILLWAY_PREFIX: `cpu${Date.now()}` },
  logFile: path.join(dir, 'spillway.log'),
});
const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 256 });
for (;;) {
  try {
    const r = await pool.request({ path: '/readyz', method: 'GET' });
    await r.body.text();
    if (r.statusCode === 200) break;
  } catch {
    /* starting */
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const body = JSON.stringify({ model: 'openai/gpt-4o-mini', stream, messages: [{ role: 'user', content: 'hello there' }] });
const one = async (): Promise<number> => {
  const t = performance.now();
  const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body });
  await r.body.text();
  if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
  return performance.now() - t;
};
for (let i = 0; i < 300; i++) await one();
const before = await cpuMs(spill.child.pid);
const latencies: number[] = [];
const t0 = performance.now();
const all: Promise<void>[] = [];
for (let i = 0; i < total; i++) {
  const due = t0 + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  all.push(one().then((ms) => void latencies.push(ms)));
}
await Promise.all(all);
const after = await cpuMs(spill.child.pid);
latencies.sort((a, b) => a - b);
const q = (p: number): string => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
console.log(`cpu ms/request ${((after - before) / total).toFixed(3)}  latency p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)}  (${total} at ${rate}/s${stream ? ', stream' : ''})`);
await pool.close();
await spill.child.stop();
await fake.child.stop();
