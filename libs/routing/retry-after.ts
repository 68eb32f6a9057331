// How long an upstream asked us to wait, read from its response headers (and Gemini's error
// body). The answer is milliseconds from `now`; undefined when the response gave no usable hint.
//
// Which hint wins:
//   1. An explicit instruction: `retry-after-ms`, else `retry-after` (seconds or HTTP-date).
//      These answer exactly "when may I come back", so they are taken as given.
//   2. Gemini's `RetryInfo.retryDelay` in the error body — the same instruction in another place.
//   3. The providers' rate-limit reset headers (OpenAI `x-ratelimit-reset-*`, Anthropic
//      `anthropic-ratelimit-*-reset`). A 429 does not say which limit ran out, so: the resets of
//      the limits whose matching `remaining` header is 0, and if none says 0 (or none is
//      present), all of them; of those, the largest — waiting less would only meet the same 429.
// A hint in the past means "now" (0). Unparseable values are ignored, never guessed.

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Reset headers with the `remaining` header that tells whether their limit is the one exhausted. */
const resetHeaders: { reset: string; remaining: string; format: 'duration' | 'timestamp' }[] = [
  { reset: 'x-ratelimit-reset-requests', remaining: 'x-ratelimit-remaining-requests', format: 'duration' },
  { reset: 'x-ratelimit-reset-tokens', remaining: 'x-ratelimit-remaining-tokens', format: 'duration' },
  { reset: 'anthropic-ratelimit-requests-reset', remaining: 'anthropic-ratelimit-requests-remaining', format: 'timestamp' },
  { reset: 'anthropic-ratelimit-tokens-reset', remaining: 'anthropic-ratelimit-tokens-remaining', format: 'timestamp' },
  { reset: 'anthropic-ratelimit-input-tokens-reset', remaining: 'anthropic-ratelimit-input-tokens-remaining', format: 'timestamp' },
  { reset: 'anthropic-ratelimit-output-tokens-reset', remaining: 'anthropic-ratelimit-output-tokens-remaining', format: 'timestamp' },
];

/** The wait an upstream response asks for, by the rules above. */
export function waitHint(headers: Headers, body: unknown, now: number): number | undefined {
  return explicitRetryAfter(headers, now) ?? retryDelayFromBody(body) ?? rateLimitReset(headers, now);
}

/** `retry-after-ms`, else `retry-after` as seconds or an HTTP-date. */
export function explicitRetryAfter(headers: Headers, now: number): number | undefined {
  const lower = lowerCased(headers);
  const msValue = lower.get('retry-after-ms');
  if (msValue !== undefined) {
    const parsed = nonNegativeNumber(msValue);
    if (parsed !== undefined) return Math.ceil(parsed);
  }
  const value = lower.get('retry-after');
  if (value === undefined) return undefined;
  const seconds = nonNegativeNumber(value);
  if (seconds !== undefined) return Math.ceil(seconds * 1000);
  return untilTimestamp(value, now);
}

/** The largest reset among the exhausted limits (all limits when none reports 0 remaining). */
export function rateLimitReset(headers: Headers, now: number): number | undefined {
  const lower = lowerCased(headers);
  const exhausted: number[] = [];
  const all: number[] = [];
  for (const { reset, remaining, format } of resetHeaders) {
    const value = lower.get(reset);
    if (value === undefined) continue;
    const wait = format === 'duration' ? parseDuration(value) : untilTimestamp(value, now);
    if (wait === undefined) continue;
    all.push(wait);
    if (nonNegativeNumber(lower.get(remaining) ?? '') === 0) exhausted.push(wait);
  }
  const chosen = exhausted.length > 0 ? exhausted : all;
  return chosen.length > 0 ? Math.max(...chosen) : undefined;
}

/**
 * Go-style durations as OpenAI sends them ("1s", "6m0s", "20ms", "1h2m3.5s", "250us"), in whole
 * milliseconds rounded up; a bare number is seconds.
 */
export function parseDuration(value: string): number | undefined {
  const text = value.trim();
  const bare = nonNegativeNumber(text);
  if (bare !== undefined) return Math.ceil(bare * 1000);
  if (!/^(\d+(\.\d+)?(h|ms|m|s|us|µs|ns))+$/.test(text)) return undefined;
  const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  let total = 0;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) {
    total += Number(match[1]) * (unitMs[match[2] ?? ''] ?? 0);
  }
  return Math.ceil(total);
}

/**
 * Gemini / Google RPC: `{ error: { details: [{ "@type": "…google.rpc.RetryInfo", retryDelay: "12s" }] } }`,
 * also when the body is wrapped in an array as some Google endpoints send it.
 */
export function retryDelayFromBody(body: unknown): number | undefined {
  const root = Array.isArray(body) ? (body as unknown[])[0] : body;
  const error = field(root, 'error');
  const details = field(error, 'details');
  if (!Array.isArray(details)) return undefined;
  for (const detail of details as unknown[]) {
    const type = field(detail, '@type');
    const delay = field(detail, 'retryDelay');
    if (typeof type === 'string' && type.endsWith('RetryInfo') && typeof delay === 'string') {
      const parsed = parseDuration(delay);
      if (parsed !== undefined) return parsed;
    }
  }
  return undefined;
}

function untilTimestamp(value: string, now: number): number | undefined {
  // Date.parse reads "-5" as a year; real HTTP-dates and RFC 3339 stamps always hold letters.
  if (!/[a-z]/i.test(value)) return undefined;
  const at = Date.parse(value.trim());
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function nonNegativeNumber(value: string): number | undefined {
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text);
}

function lowerCased(headers: Headers): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const first = typeof value === 'string' ? value : value?.[0];
    if (first !== undefined) map.set(name.toLowerCase(), first);
  }
  return map;
}

function field(value: unknown, name: string): unknown {
  return value !== null && typeof value === 'object' && name in value ? (value as Record<string, unknown>)[name] : undefined;
}
