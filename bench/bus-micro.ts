// scripts/node.sh bench/bus-micro.ts [--rates 500,1000] [--duration 10] [--pairs 3] [--throughput 5]
// The Kafka client on its own, kafkajs (KafkaBus) against @platformatic/kafka (PlatformaticKafkaBus):
// produce→consume latency of single ~1 KB messages at fixed rates with acks=all, process CPU per
// message over those runs, and the most acks=all produces per second. Every run is its own child
// process (so CPU is that client's alone), and the two clients alternate A B A B over the pairs.
// Kafka: KAFKA_BROKERS when set, else a private broker started here and removed afterwards.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Bus } from '#libs/bus/bus.ts';
import { KafkaBus, type KafkaBusOptions } from '#libs/bus/kafka.ts';
import { PlatformaticKafkaBus } from '#libs/bus/platformatic-kafka.ts';
import { createLogger } from '#libs/telemetry/logger.ts';
import { startLocalServices, type LocalServices } from '#test/support/local-services.ts';
import { median, summarize, type Summary } from './percentiles.ts';

const clients = ['kafkajs', 'platformatic'] as const;
type Client = (typeof clients)[number];

const partitions = 12;
const concurrency = 256;
const payload = 'x'.repeat(1_000);
/** Produces in flight at once while measuring the most produces per second. */
const throughputInFlight = 256;

interface RateResult {
  rate: number;
  sent: number;
  received: number;
  errors: number;
  /** produce() call → handler start, ms. */
  e2e: Summary;
  /** produce() call → acks=all acknowledged, ms. */
  ack: Summary;
  cpuUsPerMessage: number;
}

interface ThroughputResult {
  perSecond: number;
  errors: number;
  cpuUsPerMessage: number;
}

interface RunResult {
  client: Client;
  /** CPU with a joined, idle consumer and nothing produced: the client's fixed cost, ms per second. */
  idleCpuMsPerSecond: number;
  rates: RateResult[];
  throughput: ThroughputResult;
}

function makeBus(client: Client, brokers: string[]): Bus {
  const opts: KafkaBusOptions = {
    brokers,
    clientId: `bus-micro-${client}`,
    logger: createLogger({ level: 'silent' }),
    produceTimeoutMs: 10_000,
    fetchMaxWaitMs: 100,
    sessionTimeoutMs: 10_000,
  };
  return client === 'kafkajs' ? new KafkaBus(opts) : new PlatformaticKafkaBus(opts);
}

function cpuMicros(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return d.user + d.system;
}

/** One child-process run: a fresh topic and group, every rate in turn, then the throughput probe. */
async function runChild(client: Client, brokers: string[], rates: number[], durationS: number, throughputS: number): Promise<RunResult> {
  const bus = makeBus(client, brokers);
  const topic = `bus-micro.${client}.${randomUUID().slice(0, 8)}`;
  await bus.ensureTopics([{ name: topic, partitions }]);

  const sentAt = new Map<string, number>();
  let e2e: number[] = [];
  let onArrival: ((id: string) => void) | undefined;
  const consumer = await bus.consume({
    groupId: topic,
    topics: [topic],
    concurrency,
    handle: async (m) => {
      const id = m.headers.id;
      const at = sentAt.get(id);
      if (at !== undefined) {
        e2e.push(performance.now() - at);
        sentAt.delete(id);
      }
      onArrival?.(id);
    },
  });
  // The group has its partitions once a probe on every partition has come back.
  const probes = new Set<string>();
  const allBack = new Promise<void>((resolve) => {
    onArrival = (id) => {
      probes.delete(id);
      if (probes.size === 0) resolve();
    };
  });
  const probeMessages = Array.from({ length: partitions * 4 }, (_, i) => {
    const id = `probe-${i}`;
    probes.add(id);
    return { key: id, value: payload, headers: { id } };
  });
  await bus.produce(topic, probeMessages);
  await allBack;
  onArrival = undefined;

  const idleStart = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const idleCpuMsPerSecond = cpuMicros(idleStart) / 1_000 / 2;

  const rateResults: RateResult[] = [];
  for (const rate of rates) {
    // One unrecorded second at the rate first: JIT and connection pools settle.
    await offer(bus, topic, rate, 1, new Map(), []);
    e2e = [];
    const ack: number[] = [];
    const cpuStart = process.cpuUsage();
    const { sent, errors } = await offer(bus, topic, rate, durationS, sentAt, ack);
    // Wait for the stragglers, bounded: a lost message shows as received < sent.
    const drainDeadline = performance.now() + 10_000;
    while (e2e.length < sent - errors && performance.now() < drainDeadline) {
      await new Promise<void>((resolve) => {
        onArrival = () => {
          if (e2e.length >= sent - errors) resolve();
        };
        setTimeout(resolve, 100);
      });
    }
    onArrival = undefined;
    const cpu = cpuMicros(cpuStart);
    rateResults.push({ rate, sent, received: e2e.length, errors, e2e: summarize(e2e), ack: summarize(ack), cpuUsPerMessage: cpu / Math.max(1, e2e.length) });
    sentAt.clear();
  }
  await consumer.stop(5_000);

  // Throughput: a closed loop of single-message produces; nothing consumes meanwhile.
  let produced = 0;
  let errors = 0;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  const stopAt = started + throughputS * 1_000;
  await Promise.all(
    Array.from({ length: throughputInFlight }, async (_, lane) => {
      for (let i = 0; performance.now() < stopAt; i++) {
        try {
          await bus.produce(topic, [{ key: `t-${lane}-${i}`, value: payload, headers: { id: `t-${lane}-${i}` } }]);
          produced++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1_000;
  const throughput = { perSecond: produced / elapsedS, errors, cpuUsPerMessage: cpuMicros(cpuStart) / Math.max(1, produced) };
  await bus.close();
  return { client, idleCpuMsPerSecond, rates: rateResults, throughput };
}

/** Offers single-message produces at `rate`/s for `seconds`, each on its own, as independent requests would. */
async function offer(bus: Bus, topic: string, rate: number, seconds: number, sentAt: Map<string, number>, ack: number[]): Promise<{ sent: number; errors: number }> {
  let sent = 0;
  let errors = 0;
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const total = Math.round(rate * seconds);
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1_000) * rate));
    for (; sent < due; sent++) {
      const id = randomUUID();
      const at = performance.now();
      sentAt.set(id, at);
      const p = bus
        .produce(topic, [{ key: id, value: payload, headers: { id } }])
        .then(
          () => void ack.push(performance.now() - at),
          () => void errors++,
        )
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(pending);
  return { sent, errors };
}

function runInChild(client: Client, brokers: string, rates: number[], durationS: number, throughputS: number): Promise<RunResult> {
  const script = fileURLToPath(import.meta.url);
  const node = fileURLToPath(new URL('../scripts/node.sh', import.meta.url));
  const args = [script, '--child', client, '--brokers', brokers, '--rates', rates.join(','), '--duration', String(durationS), '--throughput', String(throughputS)];
  return new Promise((resolve, reject) => {
    execFile(node, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${client} run failed: ${err.message}\n${stderr}`));
      const line = stdout.trim().split('\n').pop() ?? '';
      resolve(JSON.parse(line) as RunResult);
    });
  });
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

function report(runs: RunResult[], rates: number[]): string {
  const by = (client: Client): RunResult[] => runs.filter((r) => r.client === client);
  const lines: string[] = [];
  const row = (label: string, pick: (r: RunResult) => number, digits = 1): void => {
    const cells = clients.map((c) => {
      const values = by(c).map(pick);
      return `${fmt(median(values), digits)} (${values.map((v) => fmt(v, digits)).join(' / ')})`;
    });
    const [a, b] = clients.map((c) => median(by(c).map(pick)));
    lines.push(`| ${label} | ${cells.join(' | ')} | ${fmt(b / a, 2)} |`);
  };
  lines.push(`| metric (median of pairs; per pair) | ${clients.join(' | ')} | platformatic/kafkajs |`);
  lines.push(`|---|---|---|---|`);
  row('idle consumer CPU ms per second', (r) => r.idleCpuMsPerSecond);
  rates.forEach((rate, i) => {
    row(`${rate}/s produce→consume p50 ms`, (r) => r.rates[i].e2e.p50);
    row(`${rate}/s produce→consume p99 ms`, (r) => r.rates[i].e2e.p99);
    row(`${rate}/s produce ack p50 ms`, (r) => r.rates[i].ack.p50);
    row(`${rate}/s produce ack p99 ms`, (r) => r.rates[i].ack.p99);
    row(`${rate}/s CPU µs per message (produce+consume)`, (r) => r.rates[i].cpuUsPerMessage, 0);
    row(`${rate}/s received/sent`, (r) => r.rates[i].received / Math.max(1, r.rates[i].sent), 3);
  });
  row(`max acks=all produces/s (${throughputInFlight} in flight)`, (r) => r.throughput.perSecond, 0);
  row('CPU µs per produce at max throughput', (r) => r.throughput.cpuUsPerMessage, 0);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      brokers: { type: 'string' },
      rates: { type: 'string', default: '500,1000' },
      duration: { type: 'string', default: '10' },
      throughput: { type: 'string', default: '5' },
      pairs: { type: 'string', default: '3' },
    },
    strict: true,
  });
  const rates = values.rates.split(',').map(Number);
  const durationS = Number(values.duration);
  const throughputS = Number(values.throughput);

  if (values.child) {
    const client = clients.find((c) => c === values.child);
    if (!client || !values.brokers) throw new Error('--child needs kafkajs|platformatic and --brokers');
    const result = await runChild(client, values.brokers.split(','), rates, durationS, throughputS);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }

  let services: LocalServices | undefined;
  let brokers = process.env.KAFKA_BROKERS;
  const cleanup = (): void => {
    void services?.clean();
  };
  process.once('SIGINT', cleanup);
  try {
    if (!brokers) {
      process.stderr.write('starting a private Kafka\n');
      services = await startLocalServices({ only: 'kafka' });
      brokers = services.kafkaBrokers;
    }
    const runs: RunResult[] = [];
    const pairs = Number(values.pairs);
    for (let pair = 1; pair <= pairs; pair++) {
      // Alternate which client goes first, so neither always inherits the other's broker state.
      const order = pair % 2 === 1 ? clients : [...clients].reverse();
      for (const client of order) {
        process.stderr.write(`pair ${pair}: ${client}\n`);
        const result = await runInChild(client, brokers, rates, durationS, throughputS);
        process.stderr.write(`  ${JSON.stringify(result)}\n`);
        runs.push(result);
      }
    }
    process.stdout.write(`\nbus micro-benchmark: ${pairs} pairs, ${durationS} s per rate, ~1 KB messages, acks=all, ${partitions} partitions, concurrency ${concurrency}\n\n`);
    process.stdout.write(`${report(runs, rates)}\n`);
  } finally {
    await services?.clean();
  }
}

await main();
