// Signed webhooks for async requests, on real Kafka and Redis: `x-spillway-webhook-url` travels
// with the request, the worker copies it into the result, and the results service POSTs the
// outcome there (Standard Webhooks signature), retrying until a 2xx or a final 4xx.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { startTestGateway, type TestGateway } from '#test/support/gateway.ts';
import { printLogsOnFailure, waitForLog } from '#test/support/log-lines.ts';
import { metricValue, scrapeMetrics } from '#test/support/prometheus-text.ts';
import { within } from '#test/support/within.ts';

const secret = 'whsec_c3BpbGx3YXktd2ViaG9vay10ZXN0LXNlY3JldC0zMmJ5dGVz';

interface Arrival {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: records every POST and answers each path with the statuses queued for it (then 200). */
class Receiver {
  readonly arrivals: Arrival[] = [];
  private readonly statuses = new Map<string, number[]>();
  private readonly changed = new EventTarget();
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.arrivals.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(this.statuses.get(path)?.shift() ?? 200).end();
        this.changed.dispatchEvent(new Event('arrival'));
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  answer(path: string, ...statuses: number[]): void {
    this.statuses.set(path, statuses);
  }

  at(path: string): Arrival[] {
    return this.arrivals.filter((a) => a.path === path);
  }

  /** Resolves with the arrivals at `path` once there are `count` of them. */
  waitFor(path: string, count: number): Promise<Arrival[]> {
    return within(
      new Promise((resolve) => {
        const check = (): void => {
          if (this.at(path).length < count) return;
          this.changed.removeEventListener('arrival', check);
          resolve(this.at(path));
        };
        this.changed.addEventListener('arrival', check);
        check();
      }),
      15_000,
      `${count} webhook POSTs to ${path}`,
    );
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The receiver's check, written from the Standard Webhooks spec with node:crypto alone. */
function verifySignature(arrival: Arrival, whsec: string): boolean {
  const id = String(arrival.headers['webhook-id']);
  const timestamp = String(arrival.headers['webhook-timestamp']);
  const key = Buffer.from(whsec.replace(/^whsec_/, ''), 'base64');
  const expected = Buffer.from(createHmac('sha256', key).update(`${id}.${timestamp}.${arrival.body}`).digest('base64'));
  return String(arrival.headers['webhook-signature'])
    .split(' ')
    .some((entry) => {
      const [version, signature] = entry.split(',');
      const given = Buffer.from(signature ?? '');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

interface WebhookBody {
  id: string;
  type: string;
  created_at: number;
  data: { id: string; object: string; status: string; http_status: number; response: { choices: { message: { content: string } }[] } | null; error: { code: string | null } | null };
}

describe('webhooks (kafka)', () => {
  let upstream: FakeOpenAI;
  let receiver: Receiver;
  let receiverUrl: string;
  let gateway: TestGateway;
  let filesDir: string;

  before(async () => {
    filesDir = await mkdtemp(join(tmpdir(), 'spillway-webhooks-files-'));
    upstream = await startFakeOpenAI();
    receiver = new Receiver();
    receiverUrl = await receiver.listen();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
        // The receiver is on loopback, which webhooks may not reach by default.
        webhooks: { secret, initialBackoffMs: 20, maxBackoffMs: 100, allowPrivateNetworks: true },
        files: { dir: filesDir },
        batches: { feedIntervalMs: 20 },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await receiver?.close();
    await upstream?.close();
    await rm(filesDir, { recursive: true, force: true });
  });

  afterEach(printLogsOnFailure(() => gateway?.logs));

  const submit = (content: string, headers: Record<string, string>, url = gateway.url): Promise<Response> =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async', ...headers },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }] }),
    });

  const accepted = async (res: Response): Promise<string> => {
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  };

  it('POSTs the completed request, signed so the receiver can verify it independently', async () => {
    const id = await accepted(await submit('hello webhook', { 'x-spillway-webhook-url': `${receiverUrl}/hooks/ok?token=tok_path_secret` }));
    const [arrival] = await receiver.waitFor('/hooks/ok?token=tok_path_secret', 1);
    assert.ok(arrival);
    assert.equal(arrival.headers['content-type'], 'application/json');
    assert.equal(arrival.headers['webhook-id'], id);
    const timestamp = Number(arrival.headers['webhook-timestamp']);
    assert.ok(Number.isInteger(timestamp) && Math.abs(Date.now() / 1000 - timestamp) < 300, `webhook-timestamp ${String(timestamp)} is unix seconds of now`);
    assert.ok(verifySignature(arrival, secret), 'the signature verifies with the secret');
    assert.ok(!verifySignature(arrival, 'whsec_' + Buffer.from('another-secret-of-24-bytes!').toString('base64')), 'and not with another secret');
    assert.ok(!verifySignature({ ...arrival, body: arrival.body.replace('hello', 'hallo') }, secret), 'and not for another body');

    const body = JSON.parse(arrival.body) as WebhookBody;
    assert.equal(body.id, id);
    assert.equal(body.type, 'request.completed');
    assert.ok(Number.isInteger(body.created_at));
    assert.equal(body.data.status, 'completed');
    assert.equal(body.data.response?.choices[0]?.message.content, 'Echo: hello webhook');
    const lookup = (await (await fetch(`${gateway.url}/v1/requests/${id}`)).json()) as unknown;
    assert.deepEqual(body.data, lookup, 'the webhook carries the view GET /v1/requests/{id} answers');
  });

  it('POSTs request.failed for a request that failed', async () => {
    upstream.enqueue({ kind: 'status', status: 400, body: { error: { message: 'Invalid temperature', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } } });
    const id = await accepted(await submit('failing webhook', { 'x-spillway-webhook-url': `${receiverUrl}/hooks/failed` }));
    const [arrival] = await receiver.waitFor('/hooks/failed', 1);
    assert.ok(arrival && verifySignature(arrival, secret));
    const body = JSON.parse(arrival.body) as WebhookBody;
    assert.equal(body.id, id);
    assert.equal(body.type, 'request.failed');
    assert.equal(body.data.status, 'failed');
    assert.equal(body.data.http_status, 400);
  });

  it('retries a receiver that answers 500 twice, then succeeds on the third try', async () => {
    receiver.answer('/hooks/flaky', 500, 500);
    const id = await accepted(await submit('flaky receiver', { 'x-spillway-webhook-url': `${receiverUrl}/hooks/flaky` }));
    const arrivals = await receiver.waitFor('/hooks/flaky', 3);
    await waitForLog(gateway.logs, { msg: 'webhook delivered', requestId: id, tries: 3 });
    assert.equal(receiver.at('/hooks/flaky').length, 3, 'no try after the success');
    assert.deepEqual(new Set(arrivals.map((a) => a.headers['webhook-id'])), new Set([id]), 'every try carries the same webhook-id');
    assert.ok(arrivals.every((a) => verifySignature(a, secret)), 'every try is signed');
    const metrics = await scrapeMetrics(gateway.url);
    assert.ok(metricValue(metrics, 'spillway_webhook_deliveries_total', { outcome: 'delivered' }) >= 1);
  });

  it('does not retry a receiver that answers 400', async () => {
    receiver.answer('/hooks/reject', 400, 400, 400);
    const id = await accepted(await submit('rejecting receiver', { 'x-spillway-webhook-url': `${receiverUrl}/hooks/reject` }));
    await receiver.waitFor('/hooks/reject', 1);
    await waitForLog(gateway.logs, { msg: 'webhook rejected by its receiver; not retried', requestId: id, status: 400 });
    assert.equal(receiver.at('/hooks/reject').length, 1);
    const metrics = await scrapeMetrics(gateway.url);
    assert.equal(metricValue(metrics, 'spillway_webhook_deliveries_total', { outcome: 'rejected' }), 1);
  });

  it('refuses an invalid webhook URL with a 400 naming the header', async () => {
    for (const url of ['not a url', '/relative/path', 'ftp://example.com/hook', 'javascript:alert(1)']) {
      const res = await submit('bad url', { 'x-spillway-webhook-url': url });
      assert.equal(res.status, 400, url);
      const body = (await res.json()) as { error: { param: string; code: string; message: string; type: string } };
      assert.equal(body.error.param, 'x-spillway-webhook-url');
      assert.equal(body.error.code, 'invalid_header');
      assert.equal(body.error.type, 'invalid_request_error');
      assert.match(body.error.message, /absolute http or https URL/);
    }
  });

  it('refuses a webhook on a request that is not async', async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-spillway-webhook-url': `${receiverUrl}/hooks/sync` },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'sync' }] }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { param: string; message: string } };
    assert.equal(body.error.param, 'x-spillway-webhook-url');
    assert.match(body.error.message, /respond-async/);
  });

  it('refuses a webhook with a 400 when no signing secret is configured', async () => {
    const unsigned = await startTestGateway({
      mode: 'kafka',
      roles: ['ingest'],
      config: { providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } } },
    });
    try {
      const res = await submit('no secret', { 'x-spillway-webhook-url': `${receiverUrl}/hooks/unsigned` }, unsigned.url);
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { param: string; code: string; message: string } };
      assert.equal(body.error.param, 'x-spillway-webhook-url');
      assert.equal(body.error.code, 'webhooks_not_configured');
      assert.match(body.error.message, /webhooks\.secret/);
    } finally {
      await unsigned.close(1_000);
    }
  });

  it('POSTs batch.completed, signed, when a batch created with a webhook ends, retrying a failed try', async () => {
    receiver.answer('/hooks/batch', 503);
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
    const line = (id: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: id }] } });
    const file = await client.files.create({ file: await OpenAI.toFile(Buffer.from(`${line('one')}\n${line('two')}\n`), 'in.jsonl'), purpose: 'batch' });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }, { headers: { 'x-spillway-webhook-url': `${receiverUrl}/hooks/batch` } });
    const arrivals = await receiver.waitFor('/hooks/batch', 2);
    assert.ok(arrivals.every((a) => verifySignature(a, secret)), 'every try is signed');
    assert.equal(arrivals[0].headers['webhook-id'], arrivals[1].headers['webhook-id'], 'the retry carries the same webhook-id');
    const body = JSON.parse(arrivals[1].body) as { id: string; type: string; created_at: number; data: { id: string } };
    assert.equal(body.type, 'batch.completed');
    assert.deepEqual(body.data, { id: batch.id });
    assert.equal(body.id, arrivals[1].headers['webhook-id']);
    const done = await client.batches.retrieve(batch.id);
    assert.equal(done.status, 'completed', 'the batch is completed when its webhook says so');
    assert.equal(body.created_at, done.completed_at);
  });

  it('refuses a batch webhook with a 400 when the URL is not http(s)', async () => {
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'sk-client', maxRetries: 0 });
    const file = await client.files.create({ file: await OpenAI.toFile(Buffer.from('{"custom_id":"x","method":"POST","url":"/v1/chat/completions","body":{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}}\n'), 'in.jsonl'), purpose: 'batch' });
    await assert.rejects(client.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }, { headers: { 'x-spillway-webhook-url': 'ftp://example.com/hook' } }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 400);
      assert.equal(err.param, 'x-spillway-webhook-url');
      return true;
    });
  });

  it('never writes the secret, or the path of a webhook URL, to the logs', async () => {
    // Runs last: every delivery above has been logged by now.
    assert.ok(gateway.logs.some((line) => line.includes('"host":"127.0.0.1:')), 'deliveries are logged, by host');
    const keyBase64 = secret.slice('whsec_'.length);
    for (const line of gateway.logs) {
      assert.ok(!line.includes(keyBase64), `a log line holds the secret: ${line.slice(0, 200)}`);
      assert.ok(!line.includes('tok_path_secret') && !line.includes('/hooks/'), `a log line holds a webhook URL's path: ${line.slice(0, 200)}`);
    }
  });
});

describe('webhooks to private addresses (kafka)', () => {
  let upstream: FakeOpenAI;
  let receiver: Receiver;
  let receiverUrl: string;
  let gateway: TestGateway;

  before(async () => {
    upstream = await startFakeOpenAI();
    receiver = new Receiver();
    receiverUrl = await receiver.listen();
    gateway = await startTestGateway({
      mode: 'kafka',
      config: {
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
        webhooks: { secret },
      },
    });
  });

  after(async () => {
    await gateway?.close(1_000);
    await receiver?.close();
    await upstream?.close();
  });

  afterEach(printLogsOnFailure(() => gateway?.logs));

  const submit = (url: string): Promise<Response> =>
    fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async', 'x-spillway-webhook-url': url },
      body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'private' }] }),
    });

  it('refuses a webhook URL whose host is a private or loopback address, naming the setting', async () => {
    for (const url of [`${receiverUrl}/hooks/literal`, 'http://169.254.169.254/latest/meta-data', 'http://[::1]:9/x', 'http://10.1.2.3/x', 'http://[::ffff:192.168.0.1]/x']) {
      const res = await submit(url);
      assert.equal(res.status, 400, url);
      const body = (await res.json()) as { error: { param: string; message: string } };
      assert.equal(body.error.param, 'x-spillway-webhook-url');
      assert.match(body.error.message, /webhooks\.allowPrivateNetworks/);
    }
  });

  it('does not deliver to a host name that resolves to loopback, and does not retry it', async () => {
    const res = await submit(receiverUrl.replace('127.0.0.1', 'localhost') + '/hooks/by-name');
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    await waitForLog(gateway.logs, { msg: 'webhook not sent: its host is a private address (set webhooks.allowPrivateNetworks to allow it)', requestId: id, tries: 1 });
    assert.equal(receiver.at('/hooks/by-name').length, 0);
  });
});

describe('webhooks (embedded)', () => {
  it('delivers a signed webhook on the in-memory bus and store as well', async () => {
    const upstream = await startFakeOpenAI();
    const receiver = new Receiver();
    const receiverUrl = await receiver.listen();
    const gateway = await startTestGateway({
      mode: 'embedded',
      config: {
        providers: { openai: { type: 'openai', baseUrl: upstream.url, keys: [{ key: 'sk-upstream' }], models: ['gpt-4o-mini'] } },
        webhooks: { secret, allowPrivateNetworks: true },
      },
    });
    try {
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', prefer: 'respond-async', 'x-spillway-webhook-url': `${receiverUrl}/hooks/embedded` },
        body: JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'embedded' }] }),
      });
      assert.equal(res.status, 202);
      const { id } = (await res.json()) as { id: string };
      const [arrival] = await receiver.waitFor('/hooks/embedded', 1);
      assert.ok(arrival && verifySignature(arrival, secret));
      assert.equal((JSON.parse(arrival.body) as WebhookBody).id, id);
    } finally {
      await gateway.close(1_000);
      await receiver.close();
      await upstream.close();
    }
  });
});
