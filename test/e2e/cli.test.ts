// The spillway command as a user runs it: help, a bad config, the embedded default, and the
// three services as separate processes sharing Kafka and Redis.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, uniquePrefix } from '#test/support/gateway.ts';
import { listeningLine, runSpillway as run, type SpillwayProcess as Run } from '#test/support/spillway-process.ts';

/** `count` distinct loopback ports that were free a moment ago (held together, then released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer().listen(0, '127.0.0.1'));
  await Promise.all(servers.map((server) => once(server, 'listening')));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map(async (server) => {
    server.close();
    await once(server, 'close');
  }));
  return ports;
}

describe('spillway command', () => {
  it('prints help for every command and exits 0', async () => {
    for (const command of ['start', 'ingest', 'worker', 'results', 'topics', 'config']) {
      const r = run([command, '--help']);
      assert.equal(await r.exited, 0);
      assert.match(r.output.join('\n'), new RegExp(`^Usage: spillway ${command}`));
    }
  });

  it('refuses a bad config file naming the file and the key, exit 2', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'spillway-cli-'));
    const file = path.join(dir, 'spillway.yaml');
    await writeFile(file, 'server:\n  port: 99999\nproviders:\n  openai:\n    type: openai\n    baseUrl: not a url\n');
    const r = run(['start', '--config', file]);
    assert.equal(await r.exited, 2);
    const text = r.output.join('\n');
    assert.ok(text.includes(file), text);
    assert.match(text, /server\.port/);
    assert.match(text, /providers\.openai\.baseUrl/);
  });

  it('config_printed_webhook_secret (fixed): `spillway config` shows the configuration with every secret and key digest redacted', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'spillway-cli-'));
    const file = path.join(dir, 'spillway.yaml');
    const secrets = {
      client: 'sk-client-secret-0123456789',
      digest: 'a'.repeat(64),
      admin: 'admin-secret-0123456789abcdef',
      webhook: `whsec_${Buffer.alloc(32, 9).toString('base64')}`,
      provider: 'sk-provider-secret-0123456789',
    };
    await writeFile(
      file,
      [
        `admin: { key: ${secrets.admin} }`,
        `webhooks: { secret: "${secrets.webhook}" }`,
        `auth: { keys: [{ id: plain, key: ${secrets.client} }, { id: hashed, keyHash: "sha256:${secrets.digest}" }] }`,
        `providers: { openai: { type: openai, baseUrl: "https://api.openai.com/v1", keys: [{ id: main, key: ${secrets.provider} }] } }`,
      ].join('\n'),
    );
    const r = run(['config', '--config', file]);
    assert.equal(await r.exited, 0);
    const text = r.output.join('\n');
    assert.match(text, /"id": "hashed"/, 'the configuration is shown');
    for (const [what, secret] of Object.entries(secrets)) assert.ok(!text.includes(secret), `the ${what} secret is printed`);
  });

  it('refuses Kafka without Redis, naming the missing setting', async () => {
    const r = run(['start', '--port', '0'], { KAFKA_BROKERS: '127.0.0.1:1' });
    assert.equal(await r.exited, 2);
    assert.match(r.output.join('\n'), /REDIS_URL/);
  });

  it('refuses to start on Kafka with authentication on and no way to get a key, naming what to set', async () => {
    const { kafkaBrokers, redisUrl } = servicesEnv();
    const r = run(['start', '--port', '0', '--host', '127.0.0.1'], { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: uniquePrefix(), SPILLWAY_AUTH_ENABLED: '' });
    assert.equal(await r.exited, 2);
    assert.match(r.output.join('\n'), /auth is on but no key could ever be used: add auth\.keys \(or SPILLWAY_API_KEYS\), set admin\.key \(SPILLWAY_ADMIN_KEY\)/);
  });

  describe('embedded default', () => {
    let r: Run;
    after(async () => {
      if (r) assert.equal(await r.stop(), 0, 'SIGTERM ends the process cleanly');
    });

    it('starts with no Kafka, Redis or keys, says it is not durable and open, and answers with the mock', async () => {
      // Nothing about authentication set, as on a first run.
      r = run(['start', '--port', '0', '--host', '127.0.0.1'], { SPILLWAY_AUTH_ENABLED: '' });
      const [, port] = await r.line(/listening on http:\/\/[^:]+:(\d+)/);
      await r.line(/EMBEDDED MODE.*Nothing is durable/);
      await r.line(/AUTHENTICATION IS OFF: the embedded default runs open while no keys are configured/);
      await r.line(/mock provider answers every model/);
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'first run' }] });
      assert.equal(completion.choices[0].message.content, 'Mock response: first run');
    });
  });

  describe('PORT', () => {
    const runs: Run[] = [];
    after(async () => {
      for (const r of runs) assert.equal(await r.stop(), 0, 'SIGTERM ends the process cleanly');
    });

    it('port_env_ignored_by_worker_and_results (fixed): PORT is the port of whichever service the command runs', async () => {
      for (const command of ['worker', 'results', 'ingest']) {
        const [port = 0] = await freePorts(1);
        const r = run([command, '--host', '127.0.0.1'], { PORT: String(port) });
        runs.push(r);
        const [, listening] = await r.line(listeningLine);
        assert.equal(Number(listening), port, `spillway ${command} listens on PORT`);
        assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      }
    });

    it('--port still wins over PORT', async () => {
      const [flag = 0, env = 0] = await freePorts(2);
      const r = run(['worker', '--port', String(flag), '--host', '127.0.0.1'], { PORT: String(env) });
      runs.push(r);
      const [, listening] = await r.line(listeningLine);
      assert.equal(Number(listening), flag);
      assert.equal((await fetch(`http://127.0.0.1:${flag}/healthz`)).status, 200);
    });
  });

  describe('split services on Kafka and Redis', () => {
    let upstream: FakeOpenAI;
    const runs: Run[] = [];
    after(async () => {
      for (const r of runs) await r.stop();
      await upstream?.close();
    });

    it('serves a request through separate ingest, worker and results processes', async () => {
      upstream = await startFakeOpenAI();
      const { kafkaBrokers, redisUrl } = servicesEnv();
      const env = { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: uniquePrefix(), OPENAI_API_KEY: 'sk-split-secret', OPENAI_BASE_URL: upstream.url };
      const listening = listeningLine;
      const worker = run(['worker', '--port', '0', '--host', '127.0.0.1'], env);
      const results = run(['results', '--port', '0', '--host', '127.0.0.1'], { ...env, LOG_LEVEL: 'debug' });
      const ingest = run(['ingest', '--port', '0', '--host', '127.0.0.1'], env);
      runs.push(worker, results, ingest);
      const [[, ingestPort], [, resultsPort], [, workerPort]] = await Promise.all([ingest.line(listening), results.line(listening), worker.line(listening)]);

      const client = new OpenAI({ baseURL: `http://127.0.0.1:${ingestPort}/v1`, apiKey: 'unused', maxRetries: 0 });
      const { data, response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'split' }] }).withResponse();
      assert.equal(data.choices[0].message.content, 'Echo: split');

      const id = response.headers.get('x-request-id');
      // The results process learns of the result from Kafka; wait for it to say so, then read it.
      await results.line(new RegExp(`"requestId":"${id}".*"result recorded"`));
      const view = (await (await fetch(`http://127.0.0.1:${resultsPort}/v1/requests/${id}`)).json()) as { status: string };
      assert.equal(view.status, 'completed');

      for (const port of [ingestPort, resultsPort, workerPort]) {
        assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
      }
      const metrics = await (await fetch(`http://127.0.0.1:${workerPort}/metrics`)).text();
      assert.match(metrics, /spillway_requests_total\{provider="openai",model="gpt-4o-mini",outcome="success"\} 1/);
      for (const r of runs) assert.ok(!r.output.some((l) => l.includes('sk-split-secret')), 'no process logs the provider key');
    });
  });
});
