import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load.ts';
import { providersFromEnv } from './env-providers.ts';
import { configSchema } from './schema.ts';

let dir: string;
let counter = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'spillway-config-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` to a fresh file in the temp dir and returns its path. */
function file(text: string): string {
  const path = join(dir, `spillway-${++counter}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError thrown by `fn`; fails the test when nothing or something else is thrown. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

describe('loadConfig: defaults', () => {
  it('an empty environment and no file gives port 8080, prefix spillway and the mock-only provider set', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.server.port, 8080);
    assert.equal(config.server.host, '0.0.0.0');
    assert.equal(config.prefix, 'spillway');
    assert.equal(config.results.port, 8081);
    assert.equal(config.worker.port, 8082);
    assert.deepEqual(config.kafka.brokers, []);
    assert.equal(config.redis.url, undefined);
    assert.deepEqual(config.providers, {});
    assert.equal(config.source, 'environment');
  });

  it('an empty file gives the same defaults and names the file as the source', () => {
    const path = file('');
    const config = loadConfig({ path, env: {} });
    assert.equal(config.server.port, 8080);
    assert.equal(config.prefix, 'spillway');
    assert.equal(config.source, path);
  });

  it('reads the file named by SPILLWAY_CONFIG when no path is given', () => {
    const path = file('server:\n  port: 9123\n');
    const config = loadConfig({ env: { SPILLWAY_CONFIG: path } });
    assert.equal(config.server.port, 9123);
    assert.equal(config.source, path);
  });

  it('fills defaults for keys the file leaves out of a section it does name', () => {
    const config = loadConfig({ path: file('server:\n  port: 7000\nkafka:\n  brokers: [a:9092]\n'), env: {} });
    assert.equal(config.server.port, 7000);
    assert.equal(config.server.host, '0.0.0.0');
    assert.equal(config.kafka.clientId, 'spillway');
    assert.equal(config.kafka.partitions.interactive, 12);
  });
});

describe('loadConfig: a YAML file', () => {
  it('loads every section it names', () => {
    const path = file(
      [
        'prefix: team-a',
        'server:',
        '  host: 127.0.0.1',
        '  port: 9000',
        'kafka:',
        '  brokers: ["k1:9092", "k2:9092"]',
        'redis:',
        '  url: redis://cache:6379',
        'providers:',
        '  openai:',
        '    type: openai',
        '    baseUrl: https://api.openai.com/v1',
        '    keys:',
        '      - key: sk-one',
        '    models: [gpt-4o]',
        '',
      ].join('\n'),
    );
    const config = loadConfig({ path, env: {} });
    assert.equal(config.prefix, 'team-a');
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.port, 9000);
    assert.deepEqual(config.kafka.brokers, ['k1:9092', 'k2:9092']);
    assert.equal(config.redis.url, 'redis://cache:6379');
    const openai = config.providers.openai;
    assert.ok(openai.type === 'openai');
    assert.equal(openai.baseUrl, 'https://api.openai.com/v1');
    assert.deepEqual(openai.keys, [{ key: 'sk-one', weight: 1 }]);
    assert.deepEqual(openai.models, ['gpt-4o']);
  });

  it('a file that cannot be read fails naming the file', () => {
    const path = join(dir, 'does-not-exist.yaml');
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.ok(err.message.includes(path), err.message);
  });

  it('invalid YAML fails naming the file', () => {
    const path = file('server:\n  port: [8080\n');
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.ok(err.message.includes(path), err.message);
    assert.match(err.message, /invalid YAML/);
  });

  it('a top level that is a list fails naming the file', () => {
    const path = file('- a\n- b\n');
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.ok(err.message.includes(path), err.message);
  });

  it('a top level that is a scalar fails naming the file', () => {
    const path = file('just a string\n');
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.ok(err.message.includes(path), err.message);
  });
});

describe('loadConfig: the OpenAI-compatible family', () => {
  it('a family type brings its base URL and model patterns; an entry may override either', () => {
    const path = file('providers:\n  mistral:\n    type: mistral\n    keys: [{ key: m-key }]\n  vllm:\n    type: vllm\n    baseUrl: http://gpu-box:8000/v1\n    models: [qwen-*]\n');
    const config = loadConfig({ path, env: {} });
    const mistral = config.providers.mistral;
    assert.ok(mistral.type === 'mistral');
    assert.equal(mistral.baseUrl, 'https://api.mistral.ai/v1');
    assert.ok(mistral.models.includes('mistral-*'));
    const vllm = config.providers.vllm;
    assert.ok(vllm.type === 'vllm');
    assert.equal(vllm.baseUrl, 'http://gpu-box:8000/v1');
    assert.deepEqual(vllm.models, ['qwen-*']);
  });
});

describe('loadConfig: ${ENV} interpolation', () => {
  it('replaces ${NAME} with the variable', () => {
    const path = file('redis:\n  url: redis://${REDIS_HOST}:6379/0\n');
    const config = loadConfig({ path, env: { REDIS_HOST: 'cache.internal' } });
    assert.equal(config.redis.url, 'redis://cache.internal:6379/0');
  });

  it('replaces several references in one value and inside lists', () => {
    const path = file('kafka:\n  brokers: ["${K1}:9092", "${K2}:${KPORT}"]\n');
    const config = loadConfig({ path, env: { K1: 'one', K2: 'two', KPORT: '19092' } });
    assert.deepEqual(config.kafka.brokers, ['one:9092', 'two:19092']);
  });

  it('uses the variable over the default in ${NAME:-default}', () => {
    const path = file('prefix: ${PFX:-fallback}\n');
    assert.equal(loadConfig({ path, env: { PFX: 'fromenv' } }).prefix, 'fromenv');
  });

  it('uses the default of ${NAME:-default} when the variable is unset', () => {
    const path = file('prefix: ${PFX:-fallback}\n');
    assert.equal(loadConfig({ path, env: {} }).prefix, 'fallback');
  });

  it('uses the default of ${NAME:-default} when the variable is empty', () => {
    const path = file('prefix: ${PFX:-fallback}\n');
    assert.equal(loadConfig({ path, env: { PFX: '' } }).prefix, 'fallback');
  });

  it('an empty default is allowed: ${NAME:-} becomes the empty string', () => {
    const path = file('redis:\n  url: "redis://h${SUFFIX:-}"\n');
    assert.equal(loadConfig({ path, env: {} }).redis.url, 'redis://h');
  });

  it('interpolates provider keys deep inside the providers section', () => {
    const path = file(
      'providers:\n  openai:\n    type: openai\n    baseUrl: ${OAI_URL:-https://api.openai.com/v1}\n    keys:\n      - key: ${OAI_KEY}\n',
    );
    const config = loadConfig({ path, env: { OAI_KEY: 'sk-secret' } });
    const openai = config.providers.openai;
    assert.ok(openai.type === 'openai');
    assert.equal(openai.baseUrl, 'https://api.openai.com/v1');
    assert.equal(openai.keys[0].key, 'sk-secret');
  });

  // Interpolation yields strings; numeric keys accept them, so `port: ${PORT:-8080}` works.
  it('numeric_key_from_env_reference_rejected_as_a_string (fixed: numbers from ${ENV} are accepted)', () => {
    const path = file('server:\n  port: ${APP_PORT:-8080}\nworker:\n  concurrency: ${CONCURRENCY}\n');
    const config = loadConfig({ path, env: { CONCURRENCY: '32' } });
    assert.equal(config.server.port, 8080);
    assert.equal(config.worker.concurrency, 32);
  });

  it('text that only looks like a reference is left alone', () => {
    const path = file('redis:\n  url: "redis://h/$NOTREF/${1BAD}"\n');
    assert.equal(loadConfig({ path, env: {} }).redis.url, 'redis://h/$NOTREF/${1BAD}');
  });

  it('a missing variable fails naming the file, the key path and the variable', () => {
    const path = file('providers:\n  openai:\n    type: openai\n    baseUrl: https://api.openai.com/v1\n    keys:\n      - key: ${OPENAI_KEY_MISSING}\n');
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.ok(err.message.includes(path), err.message);
    assert.ok(err.message.includes('providers.openai.keys[0].key'), err.message);
    assert.ok(err.message.includes('OPENAI_KEY_MISSING'), err.message);
  });

  it('a variable set to the empty string counts as missing when there is no default', () => {
    const path = file('redis:\n  url: ${REDIS_EMPTY}\n');
    const err = configError(() => loadConfig({ path, env: { REDIS_EMPTY: '' } }));
    assert.ok(err.message.includes(path), err.message);
    assert.ok(err.message.includes('redis.url'), err.message);
    assert.ok(err.message.includes('REDIS_EMPTY'), err.message);
  });

  it('a missing variable at the top level names the top-level key', () => {
    const path = file('prefix: ${NOPE}\n');
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.ok(err.message.includes(`${path}: prefix:`), err.message);
  });
});

describe('loadConfig: invalid values name the file and the key path', () => {
  const cases: { name: string; yaml: string; key: RegExp }[] = [
    { name: 'server.port: "abc"', yaml: 'server:\n  port: "abc"\n', key: /^\s*server\.port: /m },
    { name: 'server.port: 70000', yaml: 'server:\n  port: 70000\n', key: /^\s*server\.port: /m },
    { name: 'server.port: 80.5', yaml: 'server:\n  port: 80.5\n', key: /^\s*server\.port: /m },
    { name: 'providers.x.type: nope', yaml: 'providers:\n  x:\n    type: nope\n', key: /^\s*providers\.x\.type: /m },
    { name: 'kafka.brokers: 5', yaml: 'kafka:\n  brokers: 5\n', key: /^\s*kafka\.brokers: /m },
    { name: 'kafka.brokers[1] empty', yaml: 'kafka:\n  brokers: ["a:9092", ""]\n', key: /^\s*kafka\.brokers\[1\]: /m },
    { name: 'prefix with a space', yaml: 'prefix: "has space"\n', key: /^\s*prefix: /m },
    { name: 'provider baseUrl not a URL', yaml: 'providers:\n  p:\n    type: openai\n    baseUrl: not-a-url\n', key: /^\s*providers\.p\.baseUrl: /m },
    { name: 'provider key empty', yaml: 'providers:\n  p:\n    type: openai\n    baseUrl: https://x.test/v1\n    keys:\n      - key: ""\n', key: /^\s*providers\.p\.keys\[0\]\.key: /m },
    { name: 'provider name upper case', yaml: 'providers:\n  OpenAI:\n    type: mock\n', key: /^\s*providers\.OpenAI: /m },
    { name: 'worker.concurrency: 0', yaml: 'worker:\n  concurrency: 0\n', key: /^\s*worker\.concurrency: /m },
    { name: 'openai-compatible without baseUrl', yaml: 'providers:\n  p:\n    type: openai-compatible\n', key: /^\s*providers\.p\.baseUrl: /m },
    { name: 'azure without endpoint', yaml: 'providers:\n  az:\n    type: azure\n', key: /^\s*providers\.az\.endpoint: /m },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const path = file(c.yaml);
      const err = configError(() => loadConfig({ path, env: {} }));
      assert.ok(err.message.startsWith(`${path}:`), err.message);
      assert.match(err.message, c.key);
    });
  }

  it('lists every bad key, not only the first', () => {
    const path = file('server:\n  port: "abc"\nkafka:\n  brokers: 5\n');
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.match(err.message, /server\.port: /);
    assert.match(err.message, /kafka\.brokers: /);
  });

  it('without a file the message names the environment as the source', () => {
    const err = configError(() => loadConfig({ env: { SPILLWAY_PREFIX: 'bad prefix' } }));
    assert.ok(err.message.startsWith('environment:'), err.message);
    assert.match(err.message, /^\s*prefix: /m);
  });
});

describe('loadConfig: environment overrides', () => {
  const yaml = 'prefix: fromfile\nserver:\n  port: 9000\nkafka:\n  brokers: [file:9092]\nredis:\n  url: redis://file:6379\n';

  it('PORT overrides server.port from the file', () => {
    assert.equal(loadConfig({ path: file(yaml), env: { PORT: '9999' } }).server.port, 9999);
  });

  it('PORT sets server.port with no file', () => {
    assert.equal(loadConfig({ env: { PORT: '3000' } }).server.port, 3000);
  });

  it('port_env_ignored_by_worker_and_results (fixed): PORT sets the port of the service named by portOf', () => {
    const worker = loadConfig({ path: file(yaml), env: { PORT: '9101' }, portOf: 'worker' });
    assert.equal(worker.worker.port, 9101);
    assert.equal(worker.server.port, 9000, 'server.port keeps the file\'s value');
    const results = loadConfig({ env: { PORT: '9102' }, portOf: 'results' });
    assert.equal(results.results.port, 9102);
    assert.equal(results.server.port, 8080);
    assert.equal(results.worker.port, 8082);
    assert.equal(loadConfig({ env: { PORT: '9103' }, portOf: 'server' }).server.port, 9103);
  });

  it('SPILLWAY_MOCK_LATENCY_MS and SPILLWAY_MOCK_TOKENS_PER_SECOND set the automatic mock\'s pacing', () => {
    assert.deepEqual(loadConfig({ env: {} }).mock, { latencyMs: 0, tokensPerSecond: 0 });
    assert.deepEqual(loadConfig({ env: { SPILLWAY_MOCK_LATENCY_MS: '200', SPILLWAY_MOCK_TOKENS_PER_SECOND: '50' } }).mock, { latencyMs: 200, tokensPerSecond: 50 });
    assert.deepEqual(loadConfig({ path: file('mock:\n  latencyMs: 10\n  tokensPerSecond: 5\n'), env: { SPILLWAY_MOCK_LATENCY_MS: '20' } }).mock, { latencyMs: 20, tokensPerSecond: 5 });
    const err = configError(() => loadConfig({ env: { SPILLWAY_MOCK_TOKENS_PER_SECOND: 'fast' } }));
    assert.match(err.message, /SPILLWAY_MOCK_TOKENS_PER_SECOND: "fast"/);
  });

  it('PORT that is not a port number fails naming PORT', () => {
    for (const bad of ['abc', '70000', '-1', '80.5']) {
      const err = configError(() => loadConfig({ env: { PORT: bad } }));
      assert.match(err.message, /PORT/);
      assert.ok(err.message.includes(bad), err.message);
    }
  });

  it('KAFKA_BROKERS overrides kafka.brokers, split on commas and trimmed', () => {
    const config = loadConfig({ path: file(yaml), env: { KAFKA_BROKERS: ' a:9092, b:9092 ,,c:9092' } });
    assert.deepEqual(config.kafka.brokers, ['a:9092', 'b:9092', 'c:9092']);
  });

  it('REDIS_URL overrides redis.url', () => {
    assert.equal(loadConfig({ path: file(yaml), env: { REDIS_URL: 'redis://env:6380' } }).redis.url, 'redis://env:6380');
  });

  it('SPILLWAY_PREFIX overrides prefix', () => {
    assert.equal(loadConfig({ path: file(yaml), env: { SPILLWAY_PREFIX: 'fromenv' } }).prefix, 'fromenv');
  });

  it('without the variables the file wins', () => {
    const config = loadConfig({ path: file(yaml), env: {} });
    assert.equal(config.prefix, 'fromfile');
    assert.equal(config.server.port, 9000);
    assert.deepEqual(config.kafka.brokers, ['file:9092']);
    assert.equal(config.redis.url, 'redis://file:6379');
  });

  it('an override keeps the other keys of the section from the file', () => {
    const config = loadConfig({ path: file('server:\n  host: 10.0.0.1\n  port: 9000\n'), env: { PORT: '9001' } });
    assert.equal(config.server.host, '10.0.0.1');
    assert.equal(config.server.port, 9001);
  });

  it('the overrides option applies over file and environment', () => {
    const config = loadConfig({
      path: file(yaml),
      env: { PORT: '9999' },
      overrides: (raw) => {
        raw.server = { port: 1234 };
      },
    });
    assert.equal(config.server.port, 1234);
  });
});

describe('loadConfig: providers from the environment', () => {
  it('OPENAI_API_KEY enables openai with its default base URL and the key', () => {
    const config = loadConfig({ env: { OPENAI_API_KEY: 'sk-env' } });
    assert.deepEqual(Object.keys(config.providers), ['openai']);
    const openai = config.providers.openai;
    assert.ok(openai.type === 'openai');
    assert.equal(openai.baseUrl, 'https://api.openai.com/v1');
    assert.equal(openai.keys.length, 1);
    assert.equal(openai.keys[0].key, 'sk-env');
    assert.ok(openai.models.includes('gpt-4o'));
  });

  it('OPENAI_BASE_URL replaces the default base URL', () => {
    const config = loadConfig({ env: { OPENAI_API_KEY: 'sk-env', OPENAI_BASE_URL: 'http://127.0.0.1:4010/v1' } });
    const openai = config.providers.openai;
    assert.ok(openai.type === 'openai');
    assert.equal(openai.baseUrl, 'http://127.0.0.1:4010/v1');
  });

  it('OPENAI_BASE_URL alone enables nothing', () => {
    assert.deepEqual(loadConfig({ env: { OPENAI_BASE_URL: 'http://127.0.0.1:4010/v1' } }).providers, {});
  });

  it('GROQ_API_KEY enables groq as a provider of the OpenAI-compatible family', () => {
    const config = loadConfig({ env: { GROQ_API_KEY: 'gsk-env' } });
    assert.deepEqual(Object.keys(config.providers), ['groq']);
    const groq = config.providers.groq;
    assert.ok(groq.type === 'groq');
    assert.equal(groq.baseUrl, 'https://api.groq.com/openai/v1');
    assert.equal(groq.keys[0].key, 'gsk-env');
  });

  it('OLLAMA_BASE_URL alone enables a local ollama, with no key', () => {
    const config = loadConfig({ env: { OLLAMA_BASE_URL: 'http://127.0.0.1:11434/v1' } });
    const ollama = config.providers.ollama;
    assert.ok(ollama.type === 'ollama');
    assert.equal(ollama.baseUrl, 'http://127.0.0.1:11434/v1');
    assert.deepEqual(ollama.keys, []);
  });

  it('AZURE_OPENAI_API_KEY with AZURE_OPENAI_ENDPOINT enables azure', () => {
    const config = loadConfig({ env: { AZURE_OPENAI_API_KEY: 'az-key', AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com', OPENAI_API_VERSION: '2025-01-01-preview' } });
    const azure = config.providers.azure;
    assert.ok(azure.type === 'azure');
    assert.equal(azure.endpoint, 'https://res.openai.azure.com');
    assert.equal(azure.apiVersion, '2025-01-01-preview');
    assert.equal(azure.keys[0].key, 'az-key');
  });

  it('both keys enable both providers, openai first', () => {
    const config = loadConfig({ env: { OPENAI_API_KEY: 'sk-env', GROQ_API_KEY: 'gsk-env' } });
    assert.deepEqual(Object.keys(config.providers), ['openai', 'groq']);
  });

  it('a file with a providers section ignores the environment keys', () => {
    const path = file('providers:\n  local:\n    type: mock\n');
    const config = loadConfig({ path, env: { OPENAI_API_KEY: 'sk-env', GROQ_API_KEY: 'gsk-env' } });
    assert.deepEqual(Object.keys(config.providers), ['local']);
  });

  it('a file with an empty providers mapping ignores the environment keys', () => {
    const config = loadConfig({ path: file('providers: {}\n'), env: { OPENAI_API_KEY: 'sk-env' } });
    assert.deepEqual(config.providers, {});
  });

  it('a file without a providers section takes them from the environment', () => {
    const config = loadConfig({ path: file('server:\n  port: 9000\n'), env: { OPENAI_API_KEY: 'sk-env' } });
    assert.deepEqual(Object.keys(config.providers), ['openai']);
  });

  it('every provider built from the environment is valid for the schema', () => {
    const env = { OPENAI_API_KEY: 'a', GROQ_API_KEY: 'b', MISTRAL_API_KEY: 'c', DEEPSEEK_API_KEY: 'd', XAI_API_KEY: 'e' };
    const parsed = configSchema.safeParse({ providers: providersFromEnv(env) });
    assert.ok(parsed.success);
    assert.deepEqual(Object.keys(parsed.data.providers), ['openai', 'groq', 'mistral', 'deepseek', 'xai']);
  });

  it('ANTHROPIC_API_KEY and GEMINI_API_KEY enable their providers', () => {
    const config = loadConfig({ env: { ANTHROPIC_API_KEY: 'sk-ant', GEMINI_API_KEY: 'g-key' } });
    const anthropic = config.providers.anthropic;
    const gemini = config.providers.gemini;
    assert.ok(anthropic.type === 'anthropic' && gemini.type === 'gemini');
    assert.equal(anthropic.keys[0].key, 'sk-ant');
    assert.deepEqual(anthropic.models, ['claude-*']);
    assert.equal(gemini.keys[0].key, 'g-key');
  });
});

describe('loadConfig: webhooks', () => {
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

  it('has no secret by default, and the documented delivery defaults', () => {
    const config = loadConfig({ env: {} });
    const { secret: unset, ...delivery } = config.webhooks;
    assert.equal(unset, undefined);
    assert.deepEqual(delivery, { initialBackoffMs: 1_000, maxBackoffMs: 300_000, maxAgeSeconds: 86_400, timeoutMs: 10_000, allowPrivateNetworks: false, concurrency: 256 });
  });

  it('takes allowPrivateNetworks as a boolean or as "true"/"false" from a ${ENV} reference, and names it when it is neither', () => {
    const withFile = (value: string) => loadConfig({ path: file(`webhooks:\n  allowPrivateNetworks: ${value}\n`), env: { ALLOW: 'true' } });
    assert.equal(withFile('true').webhooks.allowPrivateNetworks, true);
    assert.equal(withFile('"${ALLOW}"').webhooks.allowPrivateNetworks, true);
    assert.equal(withFile('"false"').webhooks.allowPrivateNetworks, false);
    assert.throws(() => withFile('"yes please"'), /webhooks\.allowPrivateNetworks/);
  });

  it('takes the secret from SPILLWAY_WEBHOOK_SECRET or a ${ENV} reference, an empty one meaning unset', () => {
    assert.equal(loadConfig({ env: { SPILLWAY_WEBHOOK_SECRET: secret } }).webhooks.secret, secret);
    const path = file('webhooks:\n  secret: ${HOOK_SECRET:-}\n');
    assert.equal(loadConfig({ path, env: { HOOK_SECRET: secret } }).webhooks.secret, secret);
    assert.equal(loadConfig({ path, env: {} }).webhooks.secret, undefined);
  });

  it('refuses a secret that is not whsec_ + base64 of 24 to 64 bytes, naming the key but not the value', () => {
    for (const bad of ['not base64!', `whsec_${Buffer.alloc(8).toString('base64')}`, `whsec_${Buffer.alloc(80).toString('base64')}`]) {
      const err = configError(() => loadConfig({ path: file(`webhooks:\n  secret: "${bad}"\n`), env: {} }));
      assert.match(err.message, /webhooks\.secret/);
      assert.ok(!err.message.includes(bad), 'the message does not repeat the secret');
    }
  });
});

describe('loadConfig: auth', () => {
  const hash = `sha256:${'ab'.repeat(32)}`;

  it('takes a key by its secret or by its keyHash', () => {
    const config = loadConfig({ path: file(`auth:\n  keys:\n    - key: sk-one\n    - keyHash: "${hash}"\n`), env: {} });
    assert.equal(config.auth.keys[0].key, 'sk-one');
    assert.equal(config.auth.keys[1].keyHash, hash);
  });

  it('refuses a key with both key and keyHash, or neither, naming the key', () => {
    for (const entry of [`{ key: sk-one, keyHash: "${hash}" }`, '{ id: nameless }']) {
      const err = configError(() => loadConfig({ path: file(`auth:\n  keys:\n    - key: sk-fine\n    - ${entry}\n`), env: {} }));
      assert.match(err.message, /auth\.keys\[1\]: give exactly one of key and keyHash/);
    }
  });

  it('refuses a keyHash that is not sha256: and 64 lower-case hex digits, naming it', () => {
    for (const bad of [`sha256:${'AB'.repeat(32)}`, 'ab'.repeat(32), `sha256:${'ab'.repeat(31)}`, `sha1:${'ab'.repeat(32)}`]) {
      const err = configError(() => loadConfig({ path: file(`auth:\n  keys:\n    - keyHash: "${bad}"\n`), env: {} }));
      assert.match(err.message, /auth\.keys\[0\]\.keyHash: must be sha256:/);
    }
  });

  it('refuses a team naming a customer that is not in auth.customers, naming the path and the customer', () => {
    const path = file('auth:\n  customers:\n    - id: acme\n  teams:\n    - id: search\n      customer: acme\n    - id: ads\n      customer: nobody\n');
    const err = configError(() => loadConfig({ path, env: {} }));
    assert.match(err.message, /auth\.teams\[1\]\.customer: no customer 'nobody'/);
    assert.ok(!err.message.includes('auth.teams[0]'), 'the team with a known customer is fine');
  });

  it('refuses a key naming a team or a customer that is not configured, naming the path', () => {
    const teams = configError(() => loadConfig({ path: file('auth:\n  keys:\n    - key: sk-one\n      team: ghosts\n'), env: {} }));
    assert.match(teams.message, /auth\.keys\[0\]\.team: no team 'ghosts'/);
    const customers = configError(() => loadConfig({ path: file('auth:\n  keys:\n    - key: sk-one\n      customer: nobody\n'), env: {} }));
    assert.match(customers.message, /auth\.keys\[0\]\.customer: no customer 'nobody'/);
  });

  it('accepts a key naming a configured team', () => {
    const path = file('auth:\n  customers:\n    - id: acme\n  teams:\n    - id: search\n      customer: acme\n  keys:\n    - key: sk-one\n      team: search\n');
    assert.equal(loadConfig({ path, env: {} }).auth.keys[0].team, 'search');
  });

  it('refuses an unknown field in a key (a misspelt limit must not be ignored)', () => {
    const err = configError(() => loadConfig({ path: file('auth:\n  keys:\n    - key: sk-one\n      rpm: 10\n'), env: {} }));
    assert.match(err.message, /auth\.keys\[0\]: .*"rpm"/);
  });

  it('SPILLWAY_AUTH_ENABLED sets auth.enabled; unset, it stays unset', () => {
    assert.equal(loadConfig({ env: { SPILLWAY_AUTH_ENABLED: 'false' } }).auth.enabled, false);
    assert.equal(loadConfig({ env: { SPILLWAY_AUTH_ENABLED: 'true' } }).auth.enabled, true);
    assert.equal(loadConfig({ path: file('auth:\n  enabled: true\n'), env: { SPILLWAY_AUTH_ENABLED: 'false' } }).auth.enabled, false, 'the environment wins over the file');
    assert.equal(loadConfig({ env: {} }).auth.enabled, undefined);
  });
});

describe('loadConfig: pricing', () => {
  it('takes USD per million tokens per model, cachedInput optional', () => {
    const config = loadConfig({ path: file('pricing:\n  gpt-4o: { input: 2.5, output: 10, cachedInput: 1.25 }\n  "openai/*": { input: 1, output: 2 }\n'), env: {} });
    assert.deepEqual(config.pricing, { 'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 }, 'openai/*': { input: 1, output: 2 } });
  });

  it('refuses a negative price, naming the model and the field', () => {
    const err = configError(() => loadConfig({ path: file('pricing:\n  gpt-4o: { input: 2.5, output: 10 }\n  gpt-4o-mini: { input: -0.15, output: 0.6 }\n'), env: {} }));
    assert.match(err.message, /pricing\.gpt-4o-mini\.input/);
    assert.ok(!/pricing\.gpt-4o\./.test(err.message), 'the valid entry is not named');
  });

  it('refuses an entry missing a price or carrying an unknown field', () => {
    assert.match(configError(() => loadConfig({ path: file('pricing:\n  gpt-4o: { input: 2.5 }\n'), env: {} })).message, /pricing\.gpt-4o\.output/);
    assert.match(configError(() => loadConfig({ path: file('pricing:\n  gpt-4o: { input: 2.5, output: 10, cached: 1 }\n'), env: {} })).message, /pricing\.gpt-4o.*cached/);
  });
});
