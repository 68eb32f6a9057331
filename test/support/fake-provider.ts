// The `providers:` entry that points Spillway at a fake OpenAI upstream, serving model `m`.

export interface FakeKey {
  id: string;
  key: string;
  weight?: number;
}

export function fakeProvider(baseUrl: string, opts: { keys?: FakeKey[]; connectTimeoutMs?: number } = {}): Record<string, unknown> {
  return {
    type: 'openai-compatible',
    baseUrl,
    keys: opts.keys ?? [{ id: 'key-1', key: 'sk-fake-upstream' }],
    models: ['m'],
    ...(opts.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: opts.connectTimeoutMs }),
  };
}

/** Breaker thresholds no test reaches by accident: files that fail a target on purpose many times. */
export const breakerOff = { consecutiveFailures: 100_000, minRequests: 100_000 };

/** Quick retries, so a test that exercises them stays fast. */
export function quickRetry(attempts: number): { attempts: number; initialBackoffMs: number; maxBackoffMs: number } {
  return { attempts, initialBackoffMs: 10, maxBackoffMs: 20 };
}
