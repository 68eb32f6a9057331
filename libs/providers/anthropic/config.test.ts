import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicProviderSchema } from './config.ts';

describe('anthropicProviderSchema', () => {
  it('fills every default a bare entry needs', () => {
    assert.deepEqual(anthropicProviderSchema.parse({ type: 'anthropic' }), {
      type: 'anthropic',
      baseUrl: 'https://api.anthropic.com',
      keys: [],
      models: [],
      headers: {},
      version: '2023-06-01',
      maxTokens: 4096,
    });
  });

  it('reads numbers that arrive as strings from ${ENV} references', () => {
    const config = anthropicProviderSchema.parse({ type: 'anthropic', maxTokens: '8192', connectTimeoutMs: '1500', keys: [{ key: 'sk-ant-x', weight: '2' }] });
    assert.equal(config.maxTokens, 8192);
    assert.equal(config.connectTimeoutMs, 1500);
    assert.deepEqual(config.keys, [{ key: 'sk-ant-x', weight: 2 }]);
  });

  it('rejects a base URL that is not a URL and a max_tokens that is not a positive integer', () => {
    assert.equal(anthropicProviderSchema.safeParse({ type: 'anthropic', baseUrl: 'api.anthropic.com' }).success, false);
    assert.equal(anthropicProviderSchema.safeParse({ type: 'anthropic', maxTokens: 0 }).success, false);
  });
});
