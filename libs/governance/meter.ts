// The shared counters behind rate limits and budgets: requests and tokens per minute in a
// sliding window, and money spent per period. Redis in production (one atomic script per call,
// so any number of ingest replicas enforce one limit), in-memory in the embedded default.
import type { Period } from './periods.ts';

/** One level of the hierarchy a request counts against, with its limits. */
export interface MeteredSubject {
  /** `key:<id>`, `team:<id>` or `customer:<id>`. */
  subject: string;
  /** Requests admitted in any 60 s window; unset means no limit. */
  rpm?: number | undefined;
  /** Tokens (estimated at admission, corrected by record()) in any 60 s window; unset means no limit. */
  tpm?: number | undefined;
  /** Money that may be spent per period, in micro-USD (1 USD = 1_000_000). */
  budgets: { period: Period; microUsd: number }[];
}

export interface AdmitInput {
  /** Unique per request: the member its window entries are recorded under. */
  requestId: string;
  /** Prompt tokens estimated plus the completion tokens the request asks for at most. */
  estimatedTokens: number;
  subjects: MeteredSubject[];
}

/** One window of the tightest subject, for `x-ratelimit-*` headers. */
export interface WindowState {
  limit: number;
  /** Left in the window after this request (0 when refused). */
  remaining: number;
  /** Milliseconds until the window frees room again (the oldest entry leaves it). */
  resetMs: number;
}

export type Admission =
  | { admitted: true; requests?: WindowState; tokens?: WindowState }
  | {
      admitted: false;
      reason: 'requests' | 'tokens' | 'budget';
      /** The subject whose limit refused it. */
      subject: string;
      /** When a retry can succeed; undefined for a budget with no end (`total`) or a request larger than its tpm. */
      retryAfterMs: number | undefined;
      /** The refusing budget's period (reason 'budget'). */
      period?: Period;
      /** The request alone asks for more tokens than the subject's tpm: no wait helps. */
      tooLarge?: boolean;
      requests?: WindowState;
      tokens?: WindowState;
    };

/** What one finished request costs one subject. */
export interface UsageCharge {
  subject: string;
  microUsd: number;
  /** The request's actual total tokens: they replace its admission estimate in the tpm window. */
  tokens: number;
}

export interface Meter {
  /**
   * Admits a request against every subject at once, or none: checks each subject's budgets
   * (spend this period below the budget), rpm and tpm; only when all pass records the request in
   * every subject's windows. Atomic across all callers sharing the store.
   */
  admit(input: AdmitInput): Promise<Admission>;
  /**
   * Counts one request's usage exactly once (`usageId`, the request id): adds each charge's
   * money to its subject's spend in every period (day, week, month, total) containing `at`
   * (unix ms), and replaces its token estimate in the subject's tpm window. False when that
   * usage was counted already (a redelivered usage event).
   */
  record(usageId: string, at: number, charges: UsageCharge[]): Promise<boolean>;
  /**
   * Takes back an admission whose request was not accepted after all (Kafka refused it): it leaves
   * the subjects' windows, so a client retrying through an outage is not rate limited for it.
   */
  release(requestId: string, subjects: string[]): Promise<void>;
  /** Spend in micro-USD of a subject in the period containing `at`, for each period asked. */
  spend(subject: string, periods: Period[], at: number): Promise<Map<Period, number>>;
  /** The first subject at or over one of its budgets now, or undefined. */
  overBudget(subjects: MeteredSubject[]): Promise<{ subject: string; period: Period } | undefined>;
  close(): Promise<void>;
}
