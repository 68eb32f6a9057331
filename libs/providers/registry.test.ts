import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { configSchema } from '#libs/config/schema.ts';
import { ProviderRegistry } from './registry.ts';

/** Builds a registry from config the way start-up does, and closes it after the test. */
function registry(providers: Record<string, unknown>, t: { after: (fn: () => Promise<void>) => void }): ProviderRegistry {
  const r = new ProviderRegistry(configSchema.parse({ providers }));
  t.after(() => r.close());
  return r;
}

/** The primary target a model name resolves to, as the worker would call it. */
function resolve(r: ProviderRegistry, model: string): { adapter: { name: string; type: string }; model: string } | undefined {
  const target = r.chain({ model }).main[0]?.targets[0]?.target;
  const adapter = target && r.get(target.provider);
  return target && adapter ? { adapter, model: target.model } : undefined;
}

const openai = { type: 'openai', baseUrl: 'https://api.openai.com/v1', keys: [{ key: 'sk-a' }], models: ['gpt-4o', 'gpt-4o-mini', 'gpt-*', 'o3*'] };
const groq = { type: 'openai-compatible', baseUrl: 'https://api.groq.com/openai/v1', keys: [{ key: 'gsk-a' }], models: ['llama-3.3-70b-versatile', 'llama-*', 'openai/gpt-oss-*'] };
const azure = { type: 'openai-compatible', baseUrl: 'https://azure.example.test/v1', keys: [{ key: 'az' }], models: ['gpt-4o'] };

describe('ProviderRegistry', () => {
  it('with no providers configured it is mock only and answers every model with the mock', (t) => {
    const r = registry({}, t);
    assert.equal(r.mockOnly, true);
    assert.equal(r.adapters.length, 1);
    assert.equal(r.adapters[0].type, 'mock');
    const resolved = resolve(r, 'gpt-4o');
    assert.equal(resolved?.adapter.name, 'mock');
    assert.equal(resolved?.model, 'gpt-4o');
    assert.equal(resolve(r, 'anything-at-all')?.adapter.type, 'mock');
  });

  it('automatic_mock_pacing_hard_coded_to_zero (fixed): the automatic mock takes its pacing from mock:, still mock only', async (t) => {
    const r = new ProviderRegistry(configSchema.parse({ mock: { latencyMs: 50 } }));
    t.after(() => r.close());
    assert.equal(r.mockOnly, true, 'the start-up banner still says the mock answers');
    const adapter = r.get('mock');
    assert.ok(adapter);
    const started = performance.now();
    await adapter.complete({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, { signal: new AbortController().signal, model: 'gpt-4o', timeouts: { connectMs: 1, firstByteMs: 1, idleMs: 1 } });
    // A lower bound only (Node may fire a timer a millisecond early by the wall clock).
    assert.ok(performance.now() - started >= 49, 'the configured latency holds the answer back');
  });

  it('with providers configured it is not mock only and has no implicit mock', (t) => {
    const r = registry({ openai }, t);
    assert.equal(r.mockOnly, false);
    assert.deepEqual(r.adapters.map((a) => a.name), ['openai']);
    assert.equal(r.get('mock'), undefined);
  });

  it('names `provider/model` of a configured provider also by its bare model, for allow-lists', (t) => {
    const r = registry({ openai }, t);
    assert.deepEqual(r.namesOf('openai/gpt-4o-mini'), ['openai/gpt-4o-mini', 'gpt-4o-mini']);
    assert.deepEqual(r.namesOf('gpt-4o-mini'), ['gpt-4o-mini']);
    assert.deepEqual(r.namesOf('meta-llama/Llama-3-70b'), ['meta-llama/Llama-3-70b'], 'a slash that names no provider is part of the model');
  });

  it('a configured mock provider does not make it mock only', (t) => {
    const r = registry({ local: { type: 'mock', models: ['echo-1'] } }, t);
    assert.equal(r.mockOnly, false);
    assert.equal(resolve(r, 'echo-1')?.adapter.name, 'local');
    assert.equal(resolve(r, 'gpt-4o'), undefined);
  });

  it('get finds an adapter by provider name', (t) => {
    const r = registry({ openai, groq }, t);
    assert.equal(r.get('groq')?.type, 'openai-compatible');
    assert.equal(r.get('openai')?.type, 'openai');
    assert.equal(r.get('nope'), undefined);
  });

  it('"provider/model" names the provider and sends the model without the prefix', (t) => {
    const r = registry({ openai, groq }, t);
    const resolved = resolve(r, 'groq/llama-3.1-8b-instant');
    assert.equal(resolved?.adapter.name, 'groq');
    assert.equal(resolved?.model, 'llama-3.1-8b-instant');
  });

  it('"provider/model" reaches the provider even for a model its patterns do not list', (t) => {
    const r = registry({ openai, groq }, t);
    const resolved = resolve(r, 'openai/text-davinci-003');
    assert.equal(resolved?.adapter.name, 'openai');
    assert.equal(resolved?.model, 'text-davinci-003');
  });

  it('a bare name goes to the first provider whose patterns match', (t) => {
    const r = registry({ azure, openai }, t);
    assert.equal(resolve(r, 'gpt-4o')?.adapter.name, 'azure', 'both serve gpt-4o; azure is listed first');
    assert.equal(resolve(r, 'gpt-4o-mini')?.adapter.name, 'openai');
    assert.equal(resolve(r, 'o3-mini')?.adapter.name, 'openai', 'glob pattern');
    const swapped = registry({ openai, azure }, t);
    assert.equal(resolve(swapped, 'gpt-4o')?.adapter.name, 'openai');
  });

  it('a bare name keeps its full text as the upstream model', (t) => {
    const r = registry({ openai, groq }, t);
    const resolved = resolve(r, 'llama-3.3-70b-versatile');
    assert.equal(resolved?.adapter.name, 'groq');
    assert.equal(resolved?.model, 'llama-3.3-70b-versatile');
  });

  it('a model whose own name has a slash resolves by pattern when the prefix is no provider', (t) => {
    const r = registry({ groq }, t);
    const resolved = resolve(r, 'openai/gpt-oss-120b');
    assert.equal(resolved?.adapter.name, 'groq');
    assert.equal(resolved?.model, 'openai/gpt-oss-120b');
  });

  it('an unknown model is undefined', (t) => {
    const r = registry({ openai, groq }, t);
    assert.equal(resolve(r, 'claude-3-5-sonnet'), undefined);
    assert.equal(resolve(r, 'nope/unknown-model'), undefined);
    assert.equal(resolve(r, 'openai/'), undefined, 'a provider with no model');
    assert.equal(resolve(r, '/gpt-4o'), undefined, 'a leading slash names no provider');
    assert.equal(resolve(r, ''), undefined);
  });

  it('lists aliases first, then exact provider models', (t) => {
    const r = new ProviderRegistry(configSchema.parse({ providers: { openai }, models: { smart: { targets: ['openai/gpt-4o'] } } }));
    t.after(() => r.close());
    assert.deepEqual(r.listModels()[0], { id: 'smart', owned_by: 'spillway' });
  });

  it('keeps key secrets by provider and key id, for the worker only', (t) => {
    const r = registry({ openai: { ...openai, keys: [{ id: 'primary', key: 'sk-one' }, { key: 'sk-two' }] } }, t);
    assert.equal(r.secret('openai', 'primary'), 'sk-one');
    assert.equal(r.secret('openai', 'openai-key-1'), 'sk-two');
    assert.equal(r.secret('groq', 'primary'), undefined);
  });

  it('listModels lists only exact names, prefixed with the provider', (t) => {
    const r = registry({ openai, groq }, t);
    assert.deepEqual(r.listModels(), [
      { id: 'openai/gpt-4o', owned_by: 'openai' },
      { id: 'openai/gpt-4o-mini', owned_by: 'openai' },
      { id: 'groq/llama-3.3-70b-versatile', owned_by: 'groq' },
    ]);
  });

  it('listModels of a provider with only patterns lists nothing for it', (t) => {
    const r = registry({ openai: { ...openai, models: ['gpt-*'] } }, t);
    assert.deepEqual(r.listModels(), []);
  });
});
