// The Meter on Redis: each call is one Lua script, so every replica sharing the Redis enforces one
// limit, and the windows run on the Redis server's clock, so replicas with skewed clocks agree.
import { lua, runScript } from '#libs/store/lua-script.ts';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '#libs/telemetry/logger.ts';
import type { Admission, AdmitInput, Meter, MeteredSubject, UsageCharge } from './meter.ts';
import { periodEnd, periodKey, periods, type Period } from './periods.ts';

const windowMs = 60_000;
const usageTtlSeconds = 40 * 86_400;
// A spend counter outlives its period by a week, so late reports and dashboards still read it.
const spendGraceMs = 7 * 86_400_000;

export function meterKeys(prefix: string) {
  const base = `${prefix}:meter`;
  return {
    requests: (subject: string) => `${base}:req:${subject}`,
    tokens: (subject: string) => `${base}:tok:${subject}`,
    tokenWeights: (subject: string) => `${base}:tokw:${subject}`,
    tokenSum: (subject: string) => `${base}:toksum:${subject}`,
    /** Followed by a period key (periods.ts). */
    spend: (subject: string) => `${base}:spend:${subject}:`,
    usage: (usageId: string) => `${base}:usage:${usageId}`,
  };
}

// Shared by the scripts that read budgets: Redis time as "now" for the windows, and the first
// budget spent in full (subject, period, ms until the period ends, nil for total). Budgets come
// as [spend key, micro-USD, period, period end ms?]: their period is named by the caller.
const budgetsLua = `
local window = ${windowMs}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function overBudget(subjects)
  for _, s in ipairs(subjects) do
    for _, b in ipairs(s.budgets) do
      if tonumber(redis.call('GET', b[1]) or '0') >= b[2] then
        return s.subject, b[3], b[4] and math.max(1, b[4] - now)
      end
    end
  end
end
`;

// KEYS per subject i (k = 4(i-1)): requests ZSET, tokens ZSET, tokens weight HASH, tokens sum.
// ARGV: request id, estimated tokens, subjects JSON [{subject, rpm?, tpm?, spend, budgets}].
// Returns JSON {refusal?, requests?, tokens?}.
// Spend keys come in ARGV, not KEYS: this needs a single Redis, not a Cluster.
const admitScript = lua(`${budgetsLua}
local id, estimate = ARGV[1], tonumber(ARGV[2])
local subjects = cjson.decode(ARGV[3])
local cutoff = now - window

-- What left the window no longer counts, nor does its weight.
for i in ipairs(subjects) do
  local k = 4 * (i - 1)
  redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], '-inf', cutoff)
  local gone = redis.call('ZRANGEBYSCORE', KEYS[k + 2], '-inf', cutoff)
  if #gone > 0 then
    local freed = 0
    for _, member in ipairs(gone) do
      freed = freed + tonumber(redis.call('HGET', KEYS[k + 3], member) or '0')
      redis.call('HDEL', KEYS[k + 3], member)
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 2], '-inf', cutoff)
    -- An emptied window starts from zero again, so no drift in the running sum outlives it.
    if redis.call('ZCARD', KEYS[k + 2]) == 0 then redis.call('DEL', KEYS[k + 3], KEYS[k + 4])
    else redis.call('DECRBY', KEYS[k + 4], freed) end
  end
end

local function used(k) return tonumber(redis.call('GET', KEYS[k + 4]) or '0') end
local function leaves(score) return math.max(1, tonumber(score) + window - now) end

local refusal
-- A request no wait can ever fit is told so first, rather than to wait and then that it never fits.
for i, s in ipairs(subjects) do
  if not refusal and s.tpm and estimate > s.tpm then refusal = { reason = 'tokens', subject = s.subject, index = i, tooLarge = true } end
end
local who, period, retry = overBudget(subjects)
if who and not refusal then refusal = { reason = 'budget', subject = who, period = period, retryAfterMs = retry } end
for i, s in ipairs(subjects) do
  if refusal then break end
  local k = 4 * (i - 1)
  if s.rpm then
    local n = redis.call('ZCARD', KEYS[k + 1])
    if n >= s.rpm then
      -- Room comes back when the (n - rpm)th oldest entry leaves: then fewer than rpm remain.
      local entry = redis.call('ZRANGE', KEYS[k + 1], n - s.rpm, n - s.rpm, 'WITHSCORES')
      refusal = { reason = 'requests', subject = s.subject, index = i, retryAfterMs = entry[2] and leaves(entry[2]) }
    end
  end
  if s.tpm and not refusal then
    if used(k) + estimate > s.tpm then
      local sum, freed = used(k), 0
      local entries = redis.call('ZRANGE', KEYS[k + 2], 0, -1, 'WITHSCORES')
      refusal = { reason = 'tokens', subject = s.subject, index = i }
      for j = 1, #entries, 2 do
        freed = freed + tonumber(redis.call('HGET', KEYS[k + 3], entries[j]) or '0')
        if sum - freed + estimate <= s.tpm then refusal.retryAfterMs = leaves(entries[j + 1]) break end
      end
    end
  end
end

if not refusal then
  for i, s in ipairs(subjects) do
    local k = 4 * (i - 1)
    if s.rpm then
      redis.call('ZADD', KEYS[k + 1], now, id)
      redis.call('PEXPIRE', KEYS[k + 1], window + 1000)
    end
    if s.tpm then
      local previous = tonumber(redis.call('HGET', KEYS[k + 3], id) or '0')
      redis.call('ZADD', KEYS[k + 2], now, id)
      redis.call('HSET', KEYS[k + 3], id, estimate)
      redis.call('INCRBY', KEYS[k + 4], estimate - previous)
      for j = 2, 4 do redis.call('PEXPIRE', KEYS[k + j], window + 1000) end
    end
  end
end

-- The window of the subject with the least room left; the refusing one has none.
local function tightest(limitName, reason, slot)
  local best
  for i, s in ipairs(subjects) do
    local limit = s[limitName]
    if limit then
      local k = 4 * (i - 1)
      local key = KEYS[k + slot]
      local n = slot == 1 and redis.call('ZCARD', key) or used(k)
      local remaining = math.max(0, limit - n)
      if refusal and refusal.index == i and refusal.reason == reason then remaining = 0 end
      if not best or remaining < best.remaining then
        local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
        best = { limit = limit, remaining = remaining, resetMs = oldest[2] and leaves(oldest[2]) or 0 }
      end
    end
  end
  return best
end

return cjson.encode({ refusal = refusal, requests = tightest('rpm', 'requests', 1), tokens = tightest('tpm', 'tokens', 2) })`);

// ARGV: subjects JSON as for admit. Returns {subject, period} or nil.
const overBudgetScript = lua(`${budgetsLua}
local who, period = overBudget(cjson.decode(ARGV[1]))
if who then return { who, period } end
return false`);

// KEYS: usage mark, then per charge: spend day, week, month, total, tokens ZSET, weight HASH, sum.
// ARGV: usage ttl s, request id, day/week/month spend expiry (unix ms), then per charge: micro-USD,
// tokens. Counts the usage once; 1 when counted now, 0 when it had been already.
const recordScript = lua(`
if not redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then return 0 end
local id = ARGV[2]
for c = 0, (#KEYS - 1) / 7 - 1 do
  local k, a = 1 + 7 * c, 6 + 2 * c
  for p = 1, 4 do redis.call('INCRBY', KEYS[k + p], ARGV[a]) end
  for p = 1, 3 do redis.call('PEXPIREAT', KEYS[k + p], ARGV[2 + p]) end
  local previous = redis.call('HGET', KEYS[k + 6], id)
  if previous and redis.call('ZSCORE', KEYS[k + 5], id) then
    redis.call('HSET', KEYS[k + 6], id, ARGV[a + 1])
    redis.call('INCRBY', KEYS[k + 7], tonumber(ARGV[a + 1]) - tonumber(previous))
  end
end
return 1`);

// KEYS per subject i (k = 4(i-1)): requests ZSET, tokens ZSET, tokens weight HASH, tokens sum.
// ARGV: request id. Takes the request out of every window it is in.
const releaseScript = lua(`
local id = ARGV[1]
for k = 0, #KEYS - 1, 4 do
  redis.call('ZREM', KEYS[k + 1], id)
  local weight = redis.call('HGET', KEYS[k + 3], id)
  if weight and redis.call('ZREM', KEYS[k + 2], id) == 1 then redis.call('DECRBY', KEYS[k + 4], weight) end
  redis.call('HDEL', KEYS[k + 3], id)
end
return 1`);

const windowStateSchema = z.object({ limit: z.number(), remaining: z.number(), resetMs: z.number() });
const admitReplySchema = z.object({
  refusal: z
    .object({
      reason: z.enum(['requests', 'tokens', 'budget']),
      subject: z.string(),
      period: z.enum(periods).optional(),
      retryAfterMs: z.number().optional(),
      tooLarge: z.boolean().optional(),
    })
    .optional(),
  requests: windowStateSchema.optional(),
  tokens: windowStateSchema.optional(),
});
const overBudgetReplySchema = z.tuple([z.string(), z.enum(periods)]).nullable();

export class RedisMeter implements Meter {
  private readonly client: Redis;
  private readonly keys: ReturnType<typeof meterKeys>;

  constructor(url: string, prefix: string, logger?: Logger) {
    this.keys = meterKeys(prefix);
    this.client = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 20 });
    // Calls fail on their own when Redis is away; the listener keeps ioredis from printing each retry.
    this.client.on('error', (err: Error) => logger?.warn({ err: err.message, component: 'meter' }, 'redis connection error'));
  }

  async admit(input: AdmitInput): Promise<Admission> {
    const keys = input.subjects.flatMap((s) => [this.keys.requests(s.subject), this.keys.tokens(s.subject), this.keys.tokenWeights(s.subject), this.keys.tokenSum(s.subject)]);
    const reply = await runScript(this.client, admitScript, keys, [input.requestId, String(Math.ceil(input.estimatedTokens)), this.subjectsJson(input.subjects)]);
    const { refusal, requests, tokens } = admitReplySchema.parse(JSON.parse(String(reply)));
    const states = { ...(requests && { requests }), ...(tokens && { tokens }) };
    if (!refusal) return { admitted: true, ...states };
    return { admitted: false, ...refusal, retryAfterMs: refusal.retryAfterMs, ...states };
  }

  async record(usageId: string, at: number, charges: UsageCharge[]): Promise<boolean> {
    const keys = [this.keys.usage(usageId)];
    const args = [String(usageTtlSeconds), usageId, ...(['day', 'week', 'month'] as const).map((p) => String((periodEnd(p, at) ?? at) + spendGraceMs))];
    for (const charge of charges) {
      keys.push(...periods.map((p) => this.keys.spend(charge.subject) + periodKey(p, at)));
      keys.push(this.keys.tokens(charge.subject), this.keys.tokenWeights(charge.subject), this.keys.tokenSum(charge.subject));
      args.push(String(Math.round(charge.microUsd)), String(Math.ceil(charge.tokens)));
    }
    return (await runScript(this.client, recordScript, keys, args)) === 1;
  }

  async release(requestId: string, subjects: string[]): Promise<void> {
    const keys = subjects.flatMap((s) => [this.keys.requests(s), this.keys.tokens(s), this.keys.tokenWeights(s), this.keys.tokenSum(s)]);
    if (keys.length > 0) await runScript(this.client, releaseScript, keys, [requestId]);
  }

  async spend(subject: string, asked: Period[], at: number): Promise<Map<Period, number>> {
    if (asked.length === 0) return new Map();
    const values = await this.client.mget(asked.map((p) => this.keys.spend(subject) + periodKey(p, at)));
    return new Map(asked.map((p, i) => [p, Number(values[i] ?? 0)]));
  }

  async overBudget(subjects: MeteredSubject[]): Promise<{ subject: string; period: Period } | undefined> {
    const reply = overBudgetReplySchema.parse(await runScript(this.client, overBudgetScript, [], [this.subjectsJson(subjects)]));
    return reply ? { subject: reply[0], period: reply[1] } : undefined;
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => undefined);
  }

  // Unset limits are left out, so the script sees nil (JSON null would decode to a truthy value).
  // Budget periods are named by this process's clock, as record() names them by the usage's time.
  private subjectsJson(subjects: MeteredSubject[]): string {
    const now = Date.now();
    return JSON.stringify(
      subjects.map((s) => ({
        subject: s.subject,
        rpm: s.rpm,
        tpm: s.tpm,
        budgets: s.budgets.map((b) => {
          const ends = periodEnd(b.period, now);
          return [this.keys.spend(s.subject) + periodKey(b.period, now), b.microUsd, b.period, ...(ends === undefined ? [] : [ends])];
        }),
      })),
    );
  }
}

