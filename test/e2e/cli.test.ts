// The spillway command as a user runs it: help, a bad config, the embedded default, and the
// three services as separate processes sharing Kafka and Redis.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '#test/fakes/openai-upstream.ts';
import { servicesEnv, uniquePrefix } from '#test/support/gateway.ts';

const bin = fileURLToPath(new URL('../../bin/spillway', import.meta.url));

interface Run {
  child: ChildProcess;
  output: string[];
  /** Resolves with the first line matching, as soon as it is written. */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(bin, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const watchers: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (data: Buffer): void => {
    for (const l of data.toString('utf8').split('\n').filter(Boolean)) {
      output.push(l);
      for (const w of [...watchers]) {
        const m = l.match(w.pattern);
        if (m) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output,
    exited,
    line(pattern) {
      const found = output.map((l) => l.match(pattern)).find(Boolean);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        watchers.push({ pattern, resolve });
        void exited.then((code) => reject(new Error(`exited ${code} before printing ${pattern}:\n${output.join('\n')}`)));
      });
    },
  };
}

async function stop(r: Run): Promise<number | null> {
  if (r.child.exitCode === null) r.child.kill('SIGTERM');
  return r.exited;
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

  it('refuses Kafka without Redis, naming the missing setting', async () => {
    const r = run(['start', '--port', '0'], { KAFKA_BROKERS: '127.0.0.1:1' });
    assert.equal(await r.exited, 2);
    assert.match(r.output.join('\n'), /REDIS_URL/);
  });

  describe('embedded default', () => {
    let r: Run;
    after(async () => {
      if (r) assert.equal(await stop(r), 0, 'SIGTERM ends the process cleanly');
    });

    it('starts with no Kafka, Redis or keys, says it is not durable, and answers with the mock', async () => {
      r = run(['start', '--port', '0', '--host', '127.0.0.1']);
      const [, port] = await r.line(/listening on http:\/\/[^:]+:(\d+)/);
      await r.line(/EMBEDDED MODE.*Nothing is durable/);
      await r.line(/mock provider answers every model/);
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'unused', maxRetries: 0 });
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'first run' }] });
      assert.equal(completion.choices[0].message.content, 'Mock response: first run');
    });
  });

  describe('split services on Kafka and Redis', () => {
    let upstream: FakeOpenAI;
    const runs: Run[] = [];
    after(async () => {
      for (const r of runs) await stop(r);
      await upstream?.close();
    });

    it('serves a request through separate ingest, worker and results processes', async () => {
      upstream = await startFakeOpenAI();
      const { kafkaBrokers, redisUrl } = servicesEnv();
      const env = { KAFKA_BROKERS: kafkaBrokers, REDIS_URL: redisUrl, SPILLWAY_PREFIX: uniquePrefix(), OPENAI_API_KEY: 'sk-split-secret', OPENAI_BASE_URL: upstream.url };
      const listening = /listening on http:\/\/[^:]+:(\d+)/;
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
