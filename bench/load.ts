// Open-loop load: request i is due at t0 + i/rate whatever happened to earlier ones, and its
// latency counts from when it was due, not from when it was sent — so a stalled target (or a
// stalled generator) shows up in the numbers instead of quietly lowering the offered rate.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface LoadOptions {
  /** Origin of the target, e.g. http://127.0.0.1:8080. */
  origin: string;
  path: string;
  body: string;
  /** Read the answer as SSE and time its tokens. */
  stream: boolean;
  /** Requests per second. */
  rate: number;
  /** Requests due during the warm-up are sent but not recorded. */
  warmupS: number;
  durationS: number;
  /** Client connections to the target; requests beyond them queue in the client, and that wait counts. */
  connections: number;
  /** A request not finished after this long counts as an error. */
  timeoutMs: number;
  /** Extra request headers (e.g. `prefer: respond-async`). */
  headers?: Record<string, string>;
  /** The status that counts as success; 200 by default. */
  okStatus?: number;
}

export interface LoadResult {
  offeredRate: number;
  /** Successful recorded requests per second, between the first and the last recorded completion. */
  achievedRate: number;
  recorded: number;
  ok: number;
  /** Failures by `HTTP <status>`, error code, or stream fault. */
  errors: Record<string, number>;
  /** Per successful request: due time to the last byte, ms. */
  latencyMs: number[];
  /** Streams only: due time to the first chunk carrying text, ms. */
  firstTokenMs: number[];
  /** Streams only: gaps between consecutive chunks carrying text, ms. */
  tokenGapMs: number[];
  /** How late the generator sent requests (sent − due), ms: when large, the generator was the limit. */
  sendLagMs: number[];
  maxInFlight: number;
}

export interface LoadRun {
  /** Resolves once every request has been sent (not answered). */
  sent: Promise<void>;
  /** Resolves once every request has been answered or has failed. */
  done: Promise<LoadResult>;
  inFlight(): number;
}

interface Sample {
  latencyMs: number;
  firstTokenMs: number | undefined;
  gapsMs: number[];
}

class RequestFailure extends Error {
  readonly key: string;
  constructor(key: string) {
    super(key);
    this.key = key;
  }
}

function errorKey(err: unknown): string {
  if (err instanceof RequestFailure) return err.key;
  if (err instanceof Error) {
    const code = 'code' in err ? err.code : undefined;
    return typeof code === 'string' ? code : err.name;
  }
  return String(err);
}

/** True for an SSE `data:` payload whose delta carries text; the role-only opening chunk does not count. */
function carriesText(payload: string): boolean {
  try {
    const parsed: unknown = JSON.parse(payload);
    if (typeof parsed !== 'object' || parsed === null) return false;
    if ('error' in parsed) throw new RequestFailure('stream error event');
    const choices = 'choices' in parsed && Array.isArray(parsed.choices) ? (parsed.choices as unknown[]) : [];
    const first: unknown = choices[0];
    if (typeof first !== 'object' || first === null || !('delta' in first)) return false;
    const delta = first.delta;
    return typeof delta === 'object' && delta !== null && 'content' in delta && typeof delta.content === 'string' && delta.content !== '';
  } catch (err) {
    if (err instanceof RequestFailure) throw err;
    throw new RequestFailure('unparseable stream event');
  }
}

export function startLoad(opts: LoadOptions): LoadRun {
  const pool = new Pool(opts.origin, {
    connections: opts.connections,
    pipelining: 1,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    keepAliveTimeout: 30_000,
  });
  const interval = 1000 / opts.rate;
  const warmupCount = Math.round(opts.rate * opts.warmupS);
  const total = warmupCount + Math.round(opts.rate * opts.durationS);
  const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-bench', ...opts.headers };
  const okStatus = opts.okStatus ?? 200;

  const samples: Sample[] = [];
  const errors: Record<string, number> = {};
  const sendLagMs: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let firstEnd = Number.POSITIVE_INFINITY;
  let lastEnd = 0;
  const ended = (): void => {
    const now = performance.now();
    if (now < firstEnd) firstEnd = now;
    if (now > lastEnd) lastEnd = now;
  };
  let pending = 0;
  let allScheduled = false;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });

  const one = async (due: number): Promise<Sample> => {
    const { statusCode, body } = await pool.request({ path: opts.path, method: 'POST', headers, body: opts.body });
    if (statusCode !== okStatus) {
      await body.dump();
      throw new RequestFailure(`HTTP ${statusCode}`);
    }
    if (!opts.stream) {
      const text = await body.text();
      if (text.length === 0) throw new RequestFailure('empty body');
      return { latencyMs: performance.now() - due, firstTokenMs: undefined, gapsMs: [] };
    }
    const decoder = new TextDecoder();
    let buffered = '';
    let firstToken: number | undefined;
    let lastToken = 0;
    let sawDone = false;
    const gapsMs: number[] = [];
    for await (const chunk of body) {
      const at = performance.now();
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffered.indexOf('\n\n');
      while (end >= 0) {
        const event = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf('\n\n');
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const payload = line.slice(5).trim();
          if (payload === '[DONE]') {
            sawDone = true;
          } else if (carriesText(payload)) {
            if (firstToken === undefined) firstToken = at - due;
            else gapsMs.push(at - lastToken);
            lastToken = at;
          }
        }
      }
    }
    if (!sawDone) throw new RequestFailure('stream ended without [DONE]');
    return { latencyMs: performance.now() - due, firstTokenMs: firstToken, gapsMs };
  };

  const fire = (index: number, due: number): void => {
    sendLagMs.push(performance.now() - due);
    const recorded = index >= warmupCount;
    inFlight++;
    pending++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    one(due).then(
      (sample) => {
        if (recorded) {
          samples.push(sample);
          ended();
        }
      },
      (err: unknown) => {
        if (recorded) {
          const key = errorKey(err);
          errors[key] = (errors[key] ?? 0) + 1;
          ended();
        }
      },
    ).finally(() => {
      inFlight--;
      pending--;
      if (allScheduled && pending === 0) finish();
    });
  };

  const t0 = performance.now() + 10;
  const sent = new Promise<void>((resolve) => {
    let next = 0;
    const tick = (): void => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) {
        fire(next, t0 + next * interval);
        next++;
      }
      if (next >= total) {
        allScheduled = true;
        if (pending === 0) finish();
        resolve();
        return;
      }
      setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
    };
    tick();
  });

  const done = finished.then(async () => {
    await pool.close();
    const ok = samples.length;
    const recorded = total - warmupCount;
    // Completions spread over a longer span than the due times did when the target fell behind;
    // a fixed upstream latency shifts both ends alike and so does not count against the rate.
    const span = Math.max(lastEnd - firstEnd, (recorded - 1) * interval);
    return {
      offeredRate: opts.rate,
      achievedRate: ok > 1 && span > 0 ? ((ok - 1) * 1000) / span : Number.NaN,
      recorded,
      ok,
      errors,
      latencyMs: samples.map((s) => s.latencyMs),
      firstTokenMs: samples.flatMap((s) => (s.firstTokenMs === undefined ? [] : [s.firstTokenMs])),
      tokenGapMs: samples.flatMap((s) => s.gapsMs),
      sendLagMs: sendLagMs.slice(warmupCount),
      maxInFlight,
    };
  });

  return { sent, done, inFlight: () => inFlight };
}
