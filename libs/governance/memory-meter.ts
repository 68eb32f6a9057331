// The Meter in process, for the embedded single-process mode: the same sliding windows and
// spend counters as the Redis meter, held in Maps that forget what has expired.
import type { Admission, AdmitInput, Meter, MeteredSubject, UsageCharge, WindowState } from './meter.ts';
import { periodEnd, periodKey, periods, type Period } from './periods.ts';

const windowMs = 60_000;
const usageTtlMs = 40 * 86_400_000;
// Redis keeps each usage id for 40 days; in memory that could be millions, so only the latest
// ones are kept: a redelivered usage event arrives soon after the first.
const maxUsageIds = 100_000;
const spendGraceMs = 7 * 86_400_000;
const sweepEveryMs = windowMs;

/** Entries in the order they were added, which is the order of their times. */
interface Window {
  entries: Map<string, { at: number; weight: number }>;
  sum: number;
}

type Refusal = Extract<Admission, { admitted: false }>;

export class MemoryMeter implements Meter {
  private readonly clock: () => number;
  private readonly windows = new Map<string, Window>();
  private readonly spent = new Map<string, { microUsd: number; expiresAt: number | undefined }>();
  private readonly usage = new Map<string, number>();
  private lastSweep = 0;

  constructor(clock: () => number = Date.now) {
    this.clock = clock;
  }

  async admit(input: AdmitInput): Promise<Admission> {
    const now = this.clock();
    this.sweep(now);
    const estimate = Math.ceil(input.estimatedTokens);
    const subjects = input.subjects.map((s) => ({
      s,
      requests: s.rpm === undefined ? undefined : this.window('requests', s.subject, now),
      tokens: s.tpm === undefined ? undefined : this.window('tokens', s.subject, now),
    }));

    // A request no wait can ever fit is told so first, rather than to wait and then that it never fits.
    const tooLarge = input.subjects.find((s) => s.tpm !== undefined && estimate > s.tpm);
    let refusal: Omit<Refusal, 'requests' | 'tokens'> | undefined = tooLarge
      ? { admitted: false, reason: 'tokens', subject: tooLarge.subject, retryAfterMs: undefined, tooLarge: true }
      : this.budgetRefusal(input.subjects, now);
    for (const { s, requests, tokens } of subjects) {
      if (refusal) break;
      if (s.rpm !== undefined && requests && requests.sum + 1 > s.rpm) {
        refusal = { admitted: false, reason: 'requests', subject: s.subject, retryAfterMs: retryAfter(requests, s.rpm, 1, now) };
      } else if (s.tpm !== undefined && tokens && tokens.sum + estimate > s.tpm) {
        refusal = { admitted: false, reason: 'tokens', subject: s.subject, retryAfterMs: retryAfter(tokens, s.tpm, estimate, now) };
      }
    }

    if (!refusal) {
      for (const { requests, tokens } of subjects) {
        if (requests) add(requests, input.requestId, now, 1);
        if (tokens) add(tokens, input.requestId, now, estimate);
      }
    }

    // The window of the subject with the least room left; the refusing one has none.
    const tightest = (kind: 'requests' | 'tokens'): WindowState | undefined => {
      let best: WindowState | undefined;
      for (const { s, ...windows } of subjects) {
        const window = windows[kind];
        const limit = kind === 'requests' ? s.rpm : s.tpm;
        if (!window || limit === undefined) continue;
        const refused = refusal?.reason === kind && refusal.subject === s.subject;
        const remaining = refused ? 0 : Math.max(0, limit - window.sum);
        if (!best || remaining < best.remaining) best = { limit, remaining, resetMs: resetMs(window, now) };
      }
      return best;
    };
    const requests = tightest('requests');
    const tokens = tightest('tokens');
    const states = { ...(requests && { requests }), ...(tokens && { tokens }) };
    return refusal ? { ...refusal, ...states } : { admitted: true, ...states };
  }

  async record(usageId: string, at: number, charges: UsageCharge[]): Promise<boolean> {
    const now = this.clock();
    this.sweep(now);
    const seenUntil = this.usage.get(usageId);
    if (seenUntil !== undefined && seenUntil > now) return false;
    this.usage.set(usageId, now + usageTtlMs);
    for (const id of this.usage.keys()) {
      if (this.usage.size <= maxUsageIds) break;
      this.usage.delete(id);
    }

    for (const charge of charges) {
      for (const period of periods) {
        const key = spendKey(charge.subject, period, at);
        const end = periodEnd(period, at);
        const entry = this.spent.get(key) ?? { microUsd: 0, expiresAt: end === undefined ? undefined : end + spendGraceMs };
        entry.microUsd += Math.round(charge.microUsd);
        this.spent.set(key, entry);
      }
      // Only a request still in the window has a weight to correct; one that left it counts no more.
      const window = this.windows.get(windowKey('tokens', charge.subject));
      const entry = window?.entries.get(usageId);
      if (window && entry) {
        const tokens = Math.ceil(charge.tokens);
        window.sum += tokens - entry.weight;
        entry.weight = tokens;
      }
    }
    return true;
  }

  async release(requestId: string, subjects: string[]): Promise<void> {
    for (const subject of subjects) {
      for (const kind of ['requests', 'tokens'] as const) {
        const window = this.windows.get(windowKey(kind, subject));
        const entry = window?.entries.get(requestId);
        if (!window || !entry) continue;
        window.entries.delete(requestId);
        window.sum -= entry.weight;
      }
    }
  }

  async spend(subject: string, asked: Period[], at: number): Promise<Map<Period, number>> {
    const now = this.clock();
    return new Map(asked.map((p) => [p, this.spentIn(spendKey(subject, p, at), now)]));
  }

  async overBudget(subjects: MeteredSubject[]): Promise<{ subject: string; period: Period } | undefined> {
    const refusal = this.budgetRefusal(subjects, this.clock());
    return refusal?.period ? { subject: refusal.subject, period: refusal.period } : undefined;
  }

  async close(): Promise<void> {}

  private budgetRefusal(subjects: MeteredSubject[], now: number): Refusal | undefined {
    for (const s of subjects) {
      for (const b of s.budgets) {
        if (this.spentIn(spendKey(s.subject, b.period, now), now) < b.microUsd) continue;
        const end = periodEnd(b.period, now);
        return { admitted: false, reason: 'budget', subject: s.subject, period: b.period, retryAfterMs: end === undefined ? undefined : end - now };
      }
    }
    return undefined;
  }

  private spentIn(key: string, now: number): number {
    const entry = this.spent.get(key);
    return entry && (entry.expiresAt === undefined || entry.expiresAt > now) ? entry.microUsd : 0;
  }

  /** The subject's window with what has left it pruned, created when missing. */
  private window(kind: 'requests' | 'tokens', subject: string, now: number): Window {
    const key = windowKey(kind, subject);
    let window = this.windows.get(key);
    if (!window) {
      window = { entries: new Map(), sum: 0 };
      this.windows.set(key, window);
    }
    prune(window, now);
    return window;
  }

  // Subjects that stop sending would otherwise keep their last minute, and old periods their spend.
  private sweep(now: number): void {
    if (now - this.lastSweep < sweepEveryMs) return;
    this.lastSweep = now;
    for (const [key, window] of this.windows) {
      prune(window, now);
      if (window.entries.size === 0) this.windows.delete(key);
    }
    for (const [key, entry] of this.spent) if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.spent.delete(key);
    for (const [id, until] of this.usage) if (until <= now) this.usage.delete(id);
  }
}

function windowKey(kind: 'requests' | 'tokens', subject: string): string {
  return `${kind}\n${subject}`;
}

function spendKey(subject: string, period: Period, at: number): string {
  return `${subject}\n${periodKey(period, at)}`;
}

function prune(window: Window, now: number): void {
  for (const [id, entry] of window.entries) {
    if (entry.at > now - windowMs) break;
    window.entries.delete(id);
    window.sum -= entry.weight;
  }
  if (window.entries.size === 0) window.sum = 0;
}

function add(window: Window, id: string, at: number, weight: number): void {
  const previous = window.entries.get(id);
  // Deleted first, so a re-admitted id moves to the end and the order stays the order of times.
  if (previous) window.sum -= previous.weight;
  window.entries.delete(id);
  window.entries.set(id, { at, weight });
  window.sum += weight;
}

/** When enough of the oldest entries have left for `need` more to fit under `limit`. */
function retryAfter(window: Window, limit: number, need: number, now: number): number | undefined {
  let freed = 0;
  for (const entry of window.entries.values()) {
    freed += entry.weight;
    if (window.sum - freed + need <= limit) return Math.max(1, entry.at + windowMs - now);
  }
  return undefined;
}

function resetMs(window: Window, now: number): number {
  const oldest = window.entries.values().next();
  return oldest.done ? 0 : Math.max(1, oldest.value.at + windowMs - now);
}
