// The bedrock provider entry: defaults, the keys that go together, and that it can join the
// providers' discriminated union in libs/config/schema.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { bedrockProviderSchema } from './config.ts';

void describe('bedrockProviderSchema', () => {
  void it('needs only a region, and defaults keys and models to empty', () => {
    assert.deepEqual(bedrockProviderSchema.parse({ type: 'bedrock', region: 'us-west-2' }), { type: 'bedrock', region: 'us-west-2', keys: [], models: [] });
  });

  void it('reads connectTimeoutMs and key weights from ${ENV} strings', () => {
    const parsed = bedrockProviderSchema.parse({ type: 'bedrock', region: 'us-east-1', connectTimeoutMs: '2500', keys: [{ id: 'k1', key: 'bedrock-api-key', weight: '3' }] });
    assert.equal(parsed.connectTimeoutMs, 2500);
    assert.deepEqual(parsed.keys, [{ id: 'k1', key: 'bedrock-api-key', weight: 3 }]);
  });

  void it('refuses a missing region and an access key id without its secret, naming the key', () => {
    const noRegion = bedrockProviderSchema.safeParse({ type: 'bedrock' });
    assert.equal(noRegion.success, false);
    assert.deepEqual(noRegion.error?.issues.map((i) => i.path.join('.')), ['region']);
    const half = bedrockProviderSchema.safeParse({ type: 'bedrock', region: 'us-east-1', accessKeyId: 'AKID' });
    assert.equal(half.success, false);
    assert.deepEqual(half.error?.issues.map((i) => [i.path.join('.'), i.message]), [['secretAccessKey', 'accessKeyId and secretAccessKey are given together or not at all']]);
  });

  void it('joins a discriminated union on type', () => {
    const union = z.discriminatedUnion('type', [bedrockProviderSchema, z.object({ type: z.literal('mock') })]);
    assert.equal(union.parse({ type: 'bedrock', region: 'eu-west-1' }).type, 'bedrock');
    assert.equal(union.safeParse({ type: 'bedrock', region: 'eu-west-1', accessKeyId: 'AKID' }).success, false);
  });
});
