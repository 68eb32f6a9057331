// The server scaffolding every fake upstream shares: the FIFO fault queue with its default, the
// recorded requests and their waiters, delayed and paced writes on timers that close() clears,
// listening on 127.0.0.1 and the standalone entry point. Routes, auth, wire formats and what a
// fault does stay in each fake.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

export interface FakeServerOptions {
  /** Delay before the first response byte. With 0 the answer is written synchronously. */
  latencyMs?: number;
  /** Delay between stream pieces (chunks, events, frames). With 0 the whole stream is written in one go. */
  tokenIntervalMs?: number;
  port?: number;
  /** Keep every request in `requests` (default true). Standalone mode turns it off so a long benchmark does not grow memory. */
  recordRequests?: boolean;
}

/** What tests drive on every fake; each fake's own interface extends it. */
export interface FakeUpstream<TFault, TRecorded> {
  url: string;
  requests: TRecorded[];
  /** Consumed one per request that reaches the model (authorised and valid), FIFO. */
  enqueue(...faults: TFault[]): void;
  /** Applied when the queue is empty. */
  setDefault(fault: TFault | undefined): void;
  /** Resolves with the next request to arrive; await it instead of sleeping. */
  nextRequest(): Promise<TRecorded>;
  /** Resolves once n requests have arrived (requests.length >= n when recording). */
  waitForRequests(n: number): Promise<void>;
  /** Closes sockets and timers; idempotent, so an after() hook may close a fake a test already closed. */
  close(): Promise<void>;
}

export abstract class FakeServer<TFault, TRecorded> implements FakeUpstream<TFault, TRecorded> {
  url = '';
  requests: TRecorded[] = [];
  readonly server: Server;
  protected readonly latencyMs: number;
  protected readonly tokenIntervalMs: number;
  private readonly queue: TFault[] = [];
  private defaultFault: TFault | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly arrivalWaiters: ((r: TRecorded) => void)[] = [];
  private readonly countWaiters: { n: number; resolve: () => void }[] = [];
  private readonly recordRequests: boolean;
  private received = 0;
  private closing: Promise<void> | undefined;

  constructor(opts: FakeServerOptions) {
    this.latencyMs = opts.latencyMs ?? 0;
    this.tokenIntervalMs = opts.tokenIntervalMs ?? 0;
    this.recordRequests = opts.recordRequests ?? true;
    this.server = createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 65_000;
  }

  /** A request whose body has been read in full; receivedAt is when its headers arrived. */
  protected abstract handle(req: IncomingMessage, res: ServerResponse, rawBody: Buffer, receivedAt: number): void;

  enqueue(...faults: TFault[]): void {
    this.queue.push(...faults);
  }

  setDefault(fault: TFault | undefined): void {
    this.defaultFault = fault;
  }

  nextRequest(): Promise<TRecorded> {
    return new Promise((resolve) => this.arrivalWaiters.push(resolve));
  }

  waitForRequests(n: number): Promise<void> {
    if (this.received >= n) return Promise.resolve();
    return new Promise((resolve) => this.countWaiters.push({ n, resolve }));
  }

  close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.closing ??= new Promise((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      this.server.closeAllConnections();
    });
    return this.closing;
  }

  /** The next queued fault, or the default; call it only for a request that takes a fault. */
  protected takeFault(): TFault | undefined {
    return this.queue.shift() ?? this.defaultFault;
  }

  /** Counts the request, keeps it when recording, and wakes whoever waits for it. */
  protected record(r: TRecorded): void {
    this.received++;
    if (this.recordRequests) this.requests.push(r);
    for (const w of this.arrivalWaiters.splice(0)) w(r);
    for (let i = this.countWaiters.length - 1; i >= 0; i--) {
      const w = this.countWaiters[i];
      if (this.received >= w.n) {
        this.countWaiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Runs fn now when ms is 0 (the hot path); otherwise on a timer that close() and a client hang-up clear. */
  protected later(res: ServerResponse, ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      res.off('close', cancel);
      fn();
    }, ms);
    const cancel = (): void => {
      clearTimeout(t);
      this.timers.delete(t);
    };
    this.timers.add(t);
    res.once('close', cancel);
  }

  /**
   * Writes pieces[0, stopAt) one per tokenIntervalMs and then calls finish with nothing left;
   * with no interval it hands them all to finish instead, so a stream goes out in one write.
   * finish ends the response, or (for a fault) leaves it hanging or cuts it.
   */
  protected writePaced<T extends string | Uint8Array>(res: ServerResponse, pieces: readonly T[], stopAt: number, finish: (rest: readonly T[]) => void): void {
    if (this.tokenIntervalMs <= 0) {
      finish(stopAt === pieces.length ? pieces : pieces.slice(0, stopAt));
      return;
    }
    let i = 0;
    const step = (): void => {
      if (i >= stopAt) return finish([]);
      res.write(pieces[i++]);
      this.later(res, this.tokenIntervalMs, step);
    };
    step();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const receivedAt = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => this.handle(req, res, Buffer.concat(chunks), receivedAt));
  }
}

/** The parsed JSON body; an empty body is undefined, and one that does not parse is badJson. */
export function parseJsonBody(rawBody: Buffer): { body: unknown; badJson: boolean } {
  if (rawBody.length === 0) return { body: undefined, badJson: false };
  try {
    return { body: JSON.parse(rawBody.toString('utf8')), badJson: false };
  } catch {
    return { body: undefined, badJson: true };
  }
}

/** Listens on 127.0.0.1 (port 0 picks a free one) and resolves with the origin, http://127.0.0.1:<port>. */
export async function listenLocal(server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A fake as its own process (the benchmark's upstream): reads --port, --latency-ms,
 * --token-interval-ms and any extra string flags (name → default), starts the fake without
 * recording requests, prints `<variable>=<url>` and closes it on SIGTERM or SIGINT.
 */
export async function runStandalone(
  variable: string,
  start: (opts: FakeServerOptions, flags: Record<string, string>) => Promise<{ url: string; close(): Promise<void> }>,
  extraFlags: Record<string, string> = {},
): Promise<void> {
  const defaults: Record<string, string> = { port: '0', 'latency-ms': '0', 'token-interval-ms': '0', ...extraFlags };
  const options = Object.fromEntries(Object.entries(defaults).map(([name, value]) => [name, { type: 'string' as const, default: value }]));
  const { values } = parseArgs({ options });
  const flags: Record<string, string> = {};
  for (const name of Object.keys(defaults)) flags[name] = String(values[name]);
  const fake = await start({
    port: Number(flags.port),
    latencyMs: Number(flags['latency-ms']),
    tokenIntervalMs: Number(flags['token-interval-ms']),
    recordRequests: false,
  }, flags);
  process.stdout.write(`${variable}=${fake.url}\n`);
  const stop = (): void => {
    fake.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
