// Governance on one deployment of three ingest replicas and a worker, on real Kafka and Redis:
// keys made through the admin API (audited), limits and budgets that hold across replicas,
// revocation and expiry on every replica, model allow-lists and a key's own fallbacks, usage
// counted once, and no key material anywhere a client or an operator can see.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import OpenAI from 'openai';
import { topicNames } from '#libs/bus/topics.ts';
import { auditEventSchema } from '#libs/contracts/audit.ts';
import { usageEventSchema } from '#libs/contracts/usage.ts';
import { startTestGateway, servicesEnv, uniquePrefix, type TestGateway } from '#test/support/gateway.ts';
import { readTopic, type TopicReader } from '#test/support/topic-reader.ts';
import { startUnansweredPort, type UnansweredPort } from '#test/support/unanswered-port.ts';
import { scrapeMetrics } from '#test/support/prometheus-text.ts';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { RealtimeClient } from '#test/support/realtime-client.ts';

const adminKey = `adm-${randomBytes(24).toString('hex')}`;
const providerKey = `sk-provider-${randomBytes(16).toString('hex')}`;
/** Every secret the test saw: none may appear in anything Spillway wrote or answered. */
const secrets = new Set<string>([adminKey, providerKey]);
/** Every response body and header the gateway sent, for the search at the end. */
const answered: string[] = [];

interface ErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

interface KeyView {
  id: string;
  key?: string;
  spendUsd: Record<string, number>;
  [field: string]: unknown;
}

const model = 'backup-model';
const chatBody = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model, messages: [{ role: 'user', content }], ...extra });

async function call(url: string, path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key !== undefined) headers.set('authorization', `Bearer ${init.key}`);
  if (init.body !== undefined && typeof init.body === 'string' && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const res = await fetch(`${url}${path}`, { ...init, headers });
  // The one answer that carries a secret, by design: the key just made.
  const madeKey = path === '/admin/v1/keys' && init.method === 'POST' && res.status === 201;
  if (!madeKey) answered.push(await res.clone().text(), JSON.stringify([...res.headers]));
  return res;
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('governance across three ingest replicas (kafka)', () => {
  let dir: string;
  let down: UnansweredPort;
  let upstream: FakeOpenAI;
  let core: TestGateway;
  let replicas: TestGateway[];
  let audit: TopicReader;
  let usage: TopicReader;
  let dlq: TopicReader;
  const prefix = uniquePrefix();

  const admin = async <T = KeyView>(method: string, path: string, body?: unknown, via = 0): Promise<{ status: number; body: T }> => {
    const res = await call(replicas[via].url, `/admin/v1${path}`, {
      method,
      key: adminKey,
      headers: { 'x-spillway-actor': 'alice@platform' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const newKey = async (terms: Record<string, unknown> = {}, via = 0): Promise<KeyView & { key: string }> => {
    const made = await admin('POST', '/keys', terms, via);
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const secret = made.body.key ?? '';
    assert.ok(secret.startsWith('sk-spw-'), 'the secret is shown when the key is made');
    secrets.add(secret);
    return { ...made.body, key: secret };
  };
  const chat = (via: number, key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> =>
    call(replicas[via].url, '/v1/chat/completions', { method: 'POST', key, headers, body: JSON.stringify(body) });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spillway-governance-'));
    down = await startUnansweredPort();
    upstream = await startFakeOpenAI();
    const config = {
      admin: { key: adminKey },
      // Reloads (and expiry audits) every second rather than every 30 s.
      auth: { customers: [{ id: 'acme', name: 'Acme Corp' }], refreshIntervalMs: 1_000 },
      files: { dir },
      // Lines of one tenant go one at a time, so a budget runs out between two of them.
      batches: { maxInFlightPerTenant: 1, feedIntervalMs: 50 },
      worker: { batchConcurrency: 1 },
      providers: {
        down: { type: 'openai', baseUrl: `http://127.0.0.1:${down.port}`, keys: [{ id: 'p', key: providerKey }], models: ['primary-model'], connectTimeoutMs: 200 },
        mock: { type: 'mock', models: ['backup-model'] },
        echo: { type: 'openai', baseUrl: upstream.url, keys: [{ id: 'echo-key', key: providerKey }], models: ['echo-model'] },
      },
      // One try per target; a provider key refused with a 401 is back in rotation at once.
      routing: { retry: { network: { attempts: 0 }, timeout: { attempts: 0 } }, keyCooldown: { authMs: 1 } },
      // A token costs a dollar: budgets run out after a request or two.
      pricing: { 'mock/*': { input: 1_000_000, output: 1_000_000 } },
    };
    core = await startTestGateway({ mode: 'kafka', prefix, roles: ['worker', 'results'], config });
    replicas = [];
    for (let i = 0; i < 3; i++) replicas.push(await startTestGateway({ mode: 'kafka', prefix, roles: ['ingest'], config }));
    const { kafkaBrokers } = servicesEnv();
    const topics = topicNames(prefix);
    [audit, usage, dlq] = await Promise.all([readTopic(kafkaBrokers, topics.audit), readTopic(kafkaBrokers, topics.usage), readTopic(kafkaBrokers, topics.dlq)]);
  });

  after(async () => {
    await Promise.all([audit?.close(), usage?.close(), dlq?.close()]);
    await Promise.all((replicas ?? []).map((r) => r.close(1_000)));
    await core?.close(1_000);
    await Promise.all([down?.close(), upstream?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('is on by default with Kafka: with no key and no admin key configured, start-up fails naming what to set', async () => {
    await assert.rejects(startTestGateway({ mode: 'kafka', config: { auth: { keys: [] } } }), /auth is on but no key could ever be used: add auth\.keys .*admin\.key .*auth\.enabled: false/);
  });

  it('refuses a request with no key or an unknown key (401), and the admin API to a client key', async () => {
    const key = await newKey({ customer: 'acme' });
    const none = await call(replicas[0].url, '/v1/chat/completions', { method: 'POST', body: JSON.stringify(chatBody('hi')) });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as ErrorBody).error.code, 'invalid_api_key');
    const wrong = await chat(0, `sk-spw-${randomBytes(32).toString('base64url')}`, chatBody('hi'));
    assert.equal(wrong.status, 401);
    const asClient = await call(replicas[0].url, '/admin/v1/keys', { key: key.key });
    assert.equal(asClient.status, 401);
    assert.equal(((await asClient.json()) as ErrorBody).error.code, 'invalid_admin_key');
  });

  it('makes customers, teams and keys through the admin API; a new key works on every replica at once, and its secret is never shown again', async () => {
    assert.equal((await admin('POST', '/customers', { id: 'globex', budgets: [{ usd: 1000, period: 'month' }] })).status, 201);
    assert.equal((await admin('POST', '/teams', { id: 'globex-search', customer: 'globex', limits: { rpm: 1000 } })).status, 201);
    const unknownTeam = await admin<ErrorBody>('POST', '/keys', { team: 'no-such-team' });
    assert.equal(unknownTeam.status, 400);
    assert.equal(unknownTeam.body.error.param, 'team');
    const key = await newKey({ team: 'globex-search', name: 'search backend' });
    for (let via = 0; via < 3; via++) {
      const res = await chat(via, key.key, chatBody(`hello from replica ${via}`));
      assert.equal(res.status, 200, `replica ${via}: ${await res.text()}`);
    }
    const shown = await admin('GET', `/keys/${key.id}`, undefined, 2);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.team, 'globex-search');
    assert.equal(shown.body.key, undefined, 'the secret is not shown again');
    assert.equal(shown.body.digest, undefined, 'nor its digest');
    const listed = await admin<{ data: KeyView[] }>('GET', '/keys', undefined, 1);
    assert.ok(listed.body.data.some((k) => k.id === key.id));
    const configured = await admin<ErrorBody>('PATCH', '/customers/acme', { name: 'renamed' });
    assert.equal(configured.status, 409, 'a customer from the config file is changed there');
  });

  it('audits every admin action on its topic: who, what, when, and never a secret', async () => {
    const key = await newKey({ customer: 'acme', name: 'audited' });
    assert.equal((await admin('PATCH', `/keys/${key.id}`, { name: 'audited, renamed' })).status, 200);
    assert.equal((await admin('POST', `/keys/${key.id}/revoke`)).status, 200);
    const events = (): { action: string; target: { id: string }; actor: { credential: string; name?: string; ip: string }; at: string; after?: Record<string, unknown> }[] =>
      audit.values.map((v) => JSON.parse(v) as ReturnType<typeof events>[number]).filter((e) => e.target.id === key.id);
    await audit.until(() => events().length >= 3, 10_000, () => `audit events for ${key.id}: ${JSON.stringify(events())}`);
    assert.deepEqual(
      events().map((e) => e.action),
      ['key.created', 'key.updated', 'key.revoked'],
    );
    for (const event of events()) {
      assert.equal(auditEventSchema.safeParse(event).success, true, `as published in schemas/audit-event.schema.json: ${JSON.stringify(event)}`);
      assert.equal(event.actor.credential, 'admin');
      assert.equal(event.actor.name, 'alice@platform');
      assert.match(event.actor.ip, /127\.0\.0\.1/);
      assert.ok(Math.abs(Date.parse(event.at) - Date.now()) < 60_000, `when: ${event.at}`);
    }
    assert.equal(events()[0].after?.name, 'audited');
    assert.ok(events()[2].after?.revokedAt, 'the revocation says when');
  });

  it('three ingest replicas under 200 concurrent clients never admit more than the rpm limit', async () => {
    const key = await newKey({ customer: 'acme', limits: { rpm: 50 } });
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => chat(i % 3, key.key, chatBody(`client ${i}`), { prefer: 'respond-async' })),
    );
    const admitted = responses.filter((r) => r.status === 202);
    const refused = responses.filter((r) => r.status === 429);
    assert.equal(admitted.length, 50, `admitted ${admitted.length} of 200 at rpm 50`);
    assert.equal(refused.length, 150);
    // Each admission saw the window one fuller than the last: the replicas shared one count.
    const remaining = admitted.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests'))).sort((a, b) => a - b);
    assert.deepEqual(remaining, Array.from({ length: 50 }, (_, i) => i));
    for (const res of refused) {
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error.code, 'rate_limit_exceeded');
      assert.equal(body.error.type, 'requests');
      assert.equal(res.headers.get('x-ratelimit-limit-requests'), '50');
      assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '0');
      const retryAfter = Number(res.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
    }
  });

  it('a team limit holds across its keys and replicas', async () => {
    assert.equal((await admin('POST', '/teams', { id: 'acme-ml', customer: 'acme', limits: { rpm: 10 } })).status, 201);
    const [a, b] = [await newKey({ team: 'acme-ml' }), await newKey({ team: 'acme-ml' })];
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(i % 3, i % 2 === 0 ? a.key : b.key, chatBody(`team ${i}`), { prefer: 'respond-async' })));
    assert.equal(responses.filter((r) => r.status === 202).length, 10);
    const refusal = (await responses.find((r) => r.status === 429)?.json()) as ErrorBody;
    assert.match(refusal.error.message, /team:acme-ml/);
  });

  it('refuses over the limit in each surface\'s own shape: Anthropic\'s over x-api-key, a WebSocket error frame', async () => {
    const key = await newKey({ customer: 'acme', limits: { rpm: 2 } });
    const anthropic = (): Promise<Response> =>
      call(replicas[0].url, '/anthropic/v1/messages', { method: 'POST', headers: { 'x-api-key': key.key, 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal((await anthropic()).status, 200);
    const socket = new RealtimeClient(`${replicas[1].url.replace(/^http/, 'ws')}/v1/realtime`, { headers: { authorization: `Bearer ${key.key}` } });
    try {
      await socket.opened();
      socket.send({ type: 'request', ref: 'first', body: chatBody('over the socket') });
      assert.equal((await socket.next((f) => f.ref === 'first')).type, 'accepted');
      socket.send({ type: 'request', ref: 'second', body: chatBody('one too many') });
      const refused = await socket.next((f) => f.ref === 'second');
      assert.equal(refused.type, 'error');
      assert.equal(refused.status, 429);
      assert.equal(refused.error?.code, 'rate_limit_exceeded');
    } finally {
      socket.ws.close();
      await socket.closed;
    }
    const res = await anthropic();
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) >= 1);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'rate_limit_error');
    assert.match(body.error.message, /key:.* on requests per min/);
  });

  it('a request larger than the tokens-per-minute limit is refused, and told not to retry', async () => {
    const key = await newKey({ customer: 'acme', limits: { tpm: 100 } });
    const res = await chat(1, key.key, chatBody('short', { max_tokens: 1000 }));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('x-should-retry'), 'false');
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.type, 'tokens');
    assert.match(body.error.message, /Limit 100, Requested 100[0-9]/);
    assert.equal((await chat(1, key.key, chatBody('short', { max_tokens: 10 }))).status, 200);
  });

  it('revocation takes effect on every replica', async () => {
    const key = await newKey({ customer: 'acme' });
    for (let via = 0; via < 3; via++) assert.equal((await chat(via, key.key, chatBody('before'))).status, 200);
    // empty_json_body_refused (fixed): a JSON client sends content-type even with no body.
    const revoked = await call(replicas[1].url, `/admin/v1/keys/${key.id}/revoke`, { method: 'POST', key: adminKey, headers: { 'content-type': 'application/json' } });
    assert.equal(revoked.status, 200, await revoked.clone().text());
    assert.ok(((await revoked.json()) as KeyView).revokedAt);
    for (let via = 0; via < 3; via++) {
      const took = await eventually(async () => (await chat(via, key.key, chatBody('after'))).status === 401, 2_000, `replica ${via} refuses the revoked key`);
      assert.ok(took < 2_000);
      const res = await chat(via, key.key, chatBody('after'));
      assert.equal(((await res.json()) as ErrorBody).error.code, 'api_key_revoked');
    }
  });

  it('a key stops working at its expiry, on every replica', async () => {
    const expiresAt = new Date(Date.now() + 1_500).toISOString();
    const key = await newKey({ customer: 'acme', expiresAt });
    assert.equal((await chat(0, key.key, chatBody('in time'))).status, 200);
    // The expiry itself is the event waited for.
    await new Promise((resolve) => setTimeout(resolve, Date.parse(expiresAt) - Date.now() + 1));
    for (let via = 0; via < 3; via++) {
      const res = await chat(via, key.key, chatBody('too late'));
      assert.equal(res.status, 401);
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error.code, 'api_key_expired');
      assert.match(body.error.message, new RegExp(expiresAt.replace(/[.]/g, '\\.')));
    }
    // Moving an expiry into the past ends a key at once.
    const other = await newKey({ customer: 'acme' });
    assert.equal((await admin('PATCH', `/keys/${other.id}`, { expiresAt: new Date(Date.now() - 1_000).toISOString() })).status, 200);
    await eventually(async () => (await chat(2, other.key, chatBody('x'))).status === 401, 2_000, 'the key expired by PATCH is refused');

    // Expiry is a lifecycle event: audited once, by whichever of the three replicas notices first.
    const expired = (id: string): { actor: { credential: string } }[] =>
      audit.values.map((v) => JSON.parse(v) as { action: string; target: { id: string }; actor: { credential: string } }).filter((e) => e.action === 'key.expired' && e.target.id === id);
    await audit.until(() => expired(key.id).length > 0 && expired(other.id).length > 0, 15_000, () => 'no key.expired audit events');
    assert.equal(expired(key.id).length, 1, 'audited once, not once per replica');
    assert.equal(expired(key.id)[0]?.actor.credential, 'system');
  });

  it('a key may use only the models it lists, and brings its own fallbacks', async () => {
    const limited = await newKey({ customer: 'acme', models: ['backup-*'] });
    const refused = await chat(0, limited.key, chatBody('x', { model: 'primary-model' }));
    assert.equal(refused.status, 403);
    const body = (await refused.json()) as ErrorBody;
    assert.equal(body.error.code, 'model_not_allowed');
    assert.equal(body.error.param, 'model');
    assert.equal((await chat(0, limited.key, chatBody('x', { fallbacks: ['primary-model'] }))).status, 403, 'fallbacks are checked too');
    // `backup-*` allows the model by its provider-qualified name too, and the key sees only what it may use.
    assert.equal((await chat(0, limited.key, chatBody('x', { model: 'mock/backup-model' }))).status, 200);
    const listed = (await (await call(replicas[0].url, '/v1/models', { key: limited.key })).json()) as { data: { id: string }[] };
    assert.deepEqual(listed.data.map((m) => m.id), ['mock/backup-model']);
    assert.equal((await call(replicas[0].url, '/v1/models/down/primary-model', { key: limited.key })).status, 404);
    const unlimited = (await (await call(replicas[0].url, '/v1/models', { key: (await newKey({ customer: 'acme' })).key })).json()) as { data: { id: string }[] };
    assert.ok(unlimited.data.some((m) => m.id === 'down/primary-model'), 'a key with no list sees every model');

    // primary-model's provider never answers: without fallbacks the request fails; with the key's own, the backup answers.
    const plain = await newKey({ customer: 'acme' });
    assert.equal((await chat(1, plain.key, chatBody('x', { model: 'primary-model' }))).status >= 500, true);
    const withFallbacks = await newKey({ customer: 'acme', fallbacks: { 'primary-model': ['backup-model'] } });
    const res = await chat(1, withFallbacks.key, chatBody('x', { model: 'primary-model' }));
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('x-spillway-model'), 'backup-model');
    // A request naming its own fallbacks keeps them.
    const own = await chat(1, withFallbacks.key, chatBody('x', { model: 'primary-model', fallbacks: [] }));
    assert.ok(own.status >= 500, `its own (none) fallbacks: ${own.status}`);
  });

  it('holds batches to the same terms: a line naming a model the key may not use fails the batch, and lines get the key\'s fallbacks', async () => {
    const batchOf = async (key: string, models: string[]): Promise<OpenAI.Batches.Batch> => {
      const client = new OpenAI({ baseURL: `${replicas[0].url}/v1`, apiKey: key, maxRetries: 0 });
      const input = models.map((m, i) => JSON.stringify({ custom_id: `line-${i}`, method: 'POST', url: '/v1/chat/completions', body: chatBody(`line ${i}`, { model: m }) }));
      const file = await client.files.create({ file: await OpenAI.toFile(Buffer.from(input.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
      let batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      await eventually(async () => {
        batch = await client.batches.retrieve(batch.id);
        return ['completed', 'failed', 'expired', 'cancelled'].includes(batch.status);
      }, 30_000, 'the batch ends');
      return batch;
    };
    const limited = await newKey({ customer: 'acme', models: ['backup-*'] });
    const refused = await batchOf(limited.key, ['backup-model', 'primary-model']);
    assert.equal(refused.status, 'failed');
    assert.equal(refused.errors?.data?.[0]?.line, 2);
    assert.match(refused.errors?.data?.[0]?.message ?? '', /primary-model.*not allowed for this API key/);

    // primary-model's provider never answers: each line is carried by the key's own fallback.
    const withFallbacks = await newKey({ customer: 'acme', fallbacks: { 'primary-model': ['backup-model'] } });
    const carried = await batchOf(withFallbacks.key, ['primary-model', 'primary-model']);
    assert.equal(carried.status, 'completed');
    assert.deepEqual(carried.request_counts, { total: 2, completed: 2, failed: 0 });
  });

  it('a budget spent mid-batch fails the remaining lines with insufficient_quota, then refuses interactive requests', async () => {
    const key = await newKey({ customer: 'acme', budgets: [{ usd: 5, period: 'day' }] });
    const client = new OpenAI({ baseURL: `${replicas[2].url}/v1`, apiKey: key.key, maxRetries: 0 });
    const input = Array.from({ length: 24 }, (_, i) => JSON.stringify({ custom_id: `line-${i}`, method: 'POST', url: '/v1/chat/completions', body: chatBody(`batch line ${i}`) }));
    const file = await client.files.create({ file: await OpenAI.toFile(Buffer.from(input.join('\n') + '\n'), 'input.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    let batch = created;
    await eventually(async () => {
      batch = await client.batches.retrieve(created.id);
      return ['completed', 'failed', 'expired', 'cancelled'].includes(batch.status);
    }, 60_000, 'the batch ends');
    assert.equal(batch.status, 'completed');
    const counts = batch.request_counts ?? { completed: 0, failed: 0, total: 0 };
    assert.equal(counts.total, 24);
    assert.ok(counts.completed >= 1, `some lines ran before the budget was spent: ${JSON.stringify(counts)}`);
    assert.ok(counts.failed >= 1, `the rest were refused: ${JSON.stringify(counts)}`);
    assert.ok(batch.error_file_id);
    const errors = (await (await client.files.content(batch.error_file_id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { response: { status_code: number; body: ErrorBody } });
    assert.equal(errors.length, counts.failed);
    for (const line of errors) {
      assert.equal(line.response.status_code, 429);
      assert.equal(line.response.body.error.code, 'insufficient_quota');
    }
    const spent = await admin('GET', `/keys/${key.id}`);
    assert.ok(spent.body.spendUsd.day >= 5, `spend ${JSON.stringify(spent.body.spendUsd)}`);
    const interactive = await chat(0, key.key, chatBody('one more'));
    assert.equal(interactive.status, 429);
    assert.equal(interactive.headers.get('x-should-retry'), 'false');
    const refusal = (await interactive.json()) as ErrorBody;
    assert.equal(refusal.error.code, 'insufficient_quota');
    assert.equal(refusal.error.type, 'insufficient_quota');
    // A new batch, every line of which would be refused, is refused whole.
    const again = await call(replicas[1].url, '/v1/batches', { method: 'POST', key: key.key, body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }) });
    assert.equal(again.status, 429);
    assert.equal(((await again.json()) as ErrorBody).error.code, 'insufficient_quota');
  });

  it('counts each request\'s usage once, even when its usage event is delivered twice', async () => {
    const key = await newKey({ customer: 'acme' });
    const res = await chat(0, key.key, chatBody('count me once'));
    assert.equal(res.status, 200);
    const requestId = res.headers.get('x-request-id') ?? '';
    const mine = (): string | undefined => usage.values.find((v) => (JSON.parse(v) as { id: string }).id === requestId);
    await usage.until(() => mine() !== undefined, 10_000, () => `no usage event for ${requestId}`);
    const event = usageEventSchema.parse(JSON.parse(mine() ?? '{}'));
    assert.equal(event.key, key.id);
    assert.equal(event.customer, 'acme');
    const cost = event.costMicroUsd ?? 0;
    assert.ok(cost > 0, 'priced from the table');
    const spend = async (): Promise<number> => (await admin('GET', `/keys/${key.id}`)).body.spendUsd.total;
    await eventually(async () => (await spend()) > 0, 10_000, 'the usage is counted');
    const once = await spend();
    assert.equal(once, cost / 1_000_000);

    // Deliver the same event again, then a marker after it on the same partition (same key):
    // once the marker is counted, the duplicate has been read too.
    const kafka = new Kafka({ clientId: 'dup', brokers: servicesEnv().kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const marker = { ...JSON.parse(mine() ?? '{}'), id: `${requestId}-marker`, costMicroUsd: 1_000_000 };
    await producer.send({ topic: topicNames(prefix).usage, messages: [{ key: requestId, value: mine() ?? '' }, { key: requestId, value: JSON.stringify(marker) }] });
    await producer.disconnect();
    await eventually(async () => (await spend()) !== once, 10_000, 'the marker is counted');
    assert.equal(await spend(), once + 1, 'the redelivered event added nothing; the marker added its dollar');
  });

  it('sends a malformed usage event to the dead-letter topic', async () => {
    const kafka = new Kafka({ clientId: 'bad-usage', brokers: servicesEnv().kafkaBrokers.split(','), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const junk = `not a usage event ${randomBytes(4).toString('hex')}`;
    await producer.send({ topic: topicNames(prefix).usage, messages: [{ value: junk }] });
    await producer.disconnect();
    await dlq.until((values) => values.includes(junk), 10_000, () => 'the malformed usage event never reached the dead-letter topic');
  });

  it('a provider error that quotes the provider key is answered without it', async () => {
    const key = await newKey({ customer: 'acme' });
    // As OpenAI's own 401 does (there partly masked; here whole, the worst case).
    upstream.enqueue({ kind: 'status', status: 401, body: { error: { message: `Incorrect API key provided: ${providerKey}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } });
    const before = upstream.requests.length;
    const res = await chat(0, key.key, chatBody('x', { model: 'echo-model' }));
    assert.equal(res.status, 502);
    assert.equal(upstream.requests.at(-1)?.apiKey, providerKey, 'the provider got its key');
    // The same failure as an async request: its result is on the results topic and in the result
    // record, which the search below reads.
    upstream.enqueue({ kind: 'status', status: 401, body: { error: { message: `Incorrect API key provided: ${providerKey}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } } });
    const accepted = await chat(0, key.key, chatBody('y', { model: 'echo-model' }), { prefer: 'respond-async' });
    const { id } = (await accepted.json()) as { id: string };
    await eventually(async () => {
      const view = await call(core.url, `/v1/requests/${id}`, { key: key.key });
      return view.status === 200 && ((await view.json()) as { status: string }).status === 'failed';
    }, 10_000, 'the async answer');
    assert.equal(upstream.requests.length, before + 2, 'both reached the provider and got its 401');
  });

  it('no key material, client or provider, appears in logs, errors, results, metrics, audit or usage records', async () => {
    const texts = [...answered, ...core.logs, ...replicas.flatMap((r) => r.logs), ...audit.values, ...usage.values];
    for (const gateway of [core, ...replicas]) texts.push(await scrapeMetrics(gateway.url));
    const { kafkaBrokers } = servicesEnv();
    const results = await readTopic(kafkaBrokers, topicNames(prefix).results);
    await results.until((values) => values.length > 0, 10_000, () => 'no results');
    texts.push(...results.values);
    await results.close();
    assert.ok(secrets.size > 10, `the test made keys: ${secrets.size}`);
    const needles = [...secrets].flatMap((secret) => [secret, createHash('sha256').update(secret).digest('hex')]);
    for (const needle of needles) {
      const found = texts.find((t) => t.includes(needle));
      assert.equal(found, undefined, `key material ${needle.slice(0, 10)}… found in: ${found?.slice(0, 300)}`);
    }
  });
});

describe('usage while the usage counter is down (kafka)', () => {
  const prefix = uniquePrefix();
  const key = `sk-usage-${randomBytes(16).toString('hex')}`;
  const config = { admin: { key: adminKey }, auth: { keys: [{ id: 'metered', key, customer: 'acme' }], customers: [{ id: 'acme' }] }, pricing: { 'mock/*': { input: 1, output: 2 } } };
  let worker: TestGateway;
  let ingest: TestGateway;
  let results: TestGateway | undefined;

  before(async () => {
    results = await startTestGateway({ mode: 'kafka', prefix, roles: ['results'], config });
    worker = await startTestGateway({ mode: 'kafka', prefix, roles: ['worker'], config });
    ingest = await startTestGateway({ mode: 'kafka', prefix, roles: ['ingest'], config });
  });

  after(async () => {
    await Promise.all([ingest?.close(1_000), worker?.close(1_000), results?.close(1_000)]);
  });

  it('is not lost: it waits in the usage topic and is counted, once, when the counter is back', async () => {
    await results?.close(1_000);
    results = undefined;
    const costs: number[] = [];
    const reader = await readTopic(servicesEnv().kafkaBrokers, topicNames(prefix).usage);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await call(ingest.url, '/v1/chat/completions', { method: 'POST', key, body: JSON.stringify(chatBody(`while the counter is down ${i}`, { model: 'gpt-4o-mini' })) });
        assert.equal(res.status, 200);
      }
      await reader.until((values) => values.length >= 3, 10_000, () => `usage events: ${reader.values.length}`);
      for (const value of reader.values) costs.push((JSON.parse(value) as { costMicroUsd: number }).costMicroUsd);
    } finally {
      await reader.close();
    }
    const spend = async (): Promise<number> => ((await (await call(ingest.url, '/admin/v1/customers/acme', { key: adminKey })).json()) as KeyView).spendUsd.total;
    assert.equal(await spend(), 0, 'nothing is counted while the counter is down');
    results = await startTestGateway({ mode: 'kafka', prefix, roles: ['results'], config });
    const expected = costs.reduce((a, b) => a + b, 0) / 1_000_000;
    await eventually(async () => (await spend()) === expected, 15_000, `spend reaches ${expected}`);
  });
});

describe('governance in the embedded default', () => {
  let gateway: TestGateway;

  before(async () => {
    gateway = await startTestGateway({ mode: 'embedded', config: { admin: { key: adminKey } } });
  });

  after(async () => {
    await gateway?.close(1_000);
  });

  it('turns authentication on when an admin key is set, and enforces a key\'s limit in process', async () => {
    const open = await call(gateway.url, '/v1/chat/completions', { method: 'POST', body: JSON.stringify(chatBody('x', { model: 'gpt-4o-mini' })) });
    assert.equal(open.status, 401);
    const made = await call(gateway.url, '/admin/v1/keys', { method: 'POST', key: adminKey, body: JSON.stringify({ limits: { rpm: 3 } }) });
    assert.equal(made.status, 201);
    const { key } = (await made.json()) as { key: string };
    secrets.add(key);
    const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => call(gateway.url, '/v1/chat/completions', { method: 'POST', key, body: JSON.stringify(chatBody(`e${i}`, { model: 'gpt-4o-mini' })) }).then((r) => r.status)));
    assert.equal(statuses.filter((s) => s === 200).length, 3);
    assert.equal(statuses.filter((s) => s === 429).length, 5);
  });
});
