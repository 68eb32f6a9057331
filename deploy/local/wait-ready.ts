// Waits until Kafka answers metadata requests and Redis answers PING: an open port alone is not
// ready (a KRaft broker listens before it has registered itself and can serve metadata).
// Usage: wait-ready.ts [--kafka HOST:PORT [--kafka-pid PID]] [--redis URL [--redis-pid PID]]
//                      [--timeout-ms MS]
// Exits 0 when all are ready. Otherwise exits 1, prints the names of the services that are not
// ready on stdout (one a line, for services.sh) and the reasons on stderr.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';

type Service = 'kafka' | 'redis';

interface Check {
  service: Service;
  target: string;
  pid: number | undefined;
  probe: () => Promise<void>;
}

const retryPauseMs = 200;

async function probeKafka(broker: string): Promise<void> {
  const kafka = new Kafka({
    clientId: 'spillway-wait-ready',
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error('no broker registered yet');
    await admin.listTopics();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function probeRedis(url: string): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // Without a listener ioredis prints every refused connection as an unhandled error event.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const reply = await redis.ping();
    if (reply !== 'PONG') throw new Error(`PING answered ${reply}`);
  } finally {
    redis.disconnect();
  }
}

// A zombie still answers kill(pid, 0), so read the state where /proc exists.
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}

/** Resolves to undefined when ready, or to the reason it never became ready. */
async function waitFor(check: Check, deadline: number): Promise<string | undefined> {
  let lastError = 'no attempt finished';
  for (;;) {
    if (check.pid !== undefined && processGone(check.pid)) return `process ${check.pid} exited`;
    try {
      await check.probe();
      return undefined;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    const left = deadline - Date.now();
    if (left <= 0) return `not ready in time; last error: ${lastError}`;
    await sleep(Math.min(retryPauseMs, left));
  }
}

function parsePid(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const pid = Number(value);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${flag} needs a process id, got '${value}'`);
  return pid;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kafka: { type: 'string' },
      'kafka-pid': { type: 'string' },
      redis: { type: 'string' },
      'redis-pid': { type: 'string' },
      'timeout-ms': { type: 'string', default: '60000' },
    },
  });
  const timeoutMs = Number(values['timeout-ms']);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new Error(`--timeout-ms needs a positive number, got '${values['timeout-ms']}'`);
  }

  const checks: Check[] = [];
  const { kafka, redis } = values;
  if (kafka !== undefined) {
    const pid = parsePid(values['kafka-pid'], '--kafka-pid');
    checks.push({ service: 'kafka', target: kafka, pid, probe: () => probeKafka(kafka) });
  }
  if (redis !== undefined) {
    const pid = parsePid(values['redis-pid'], '--redis-pid');
    checks.push({ service: 'redis', target: redis, pid, probe: () => probeRedis(redis) });
  }
  if (checks.length === 0) throw new Error('nothing to wait for: pass --kafka and/or --redis');

  const deadline = Date.now() + timeoutMs;
  const reasons = await Promise.all(checks.map((check) => waitFor(check, deadline)));
  let failed = 0;
  checks.forEach((check, i) => {
    const reason = reasons[i];
    if (reason === undefined) return;
    failed += 1;
    process.stdout.write(`${check.service}\n`);
    process.stderr.write(`wait-ready: ${check.service} at ${check.target}: ${reason}\n`);
  });
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`wait-ready: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
