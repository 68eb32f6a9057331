import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expandChain, laneTargets, resolveModel, type Chain, type ChainConfig, type ChainStep } from './chain.ts';
import { modelsSchema } from './policy-schema.ts';

const config: ChainConfig = {
  providers: {
    openai: { models: ['gpt-4o*', 'o3*'] },
    azure: { models: ['gpt-4o'] },
    anthropic: { models: ['claude-*'] },
    groq: { models: ['llama-*', 'openai/gpt-oss-120b'] },
  },
  models: modelsSchema.parse({
    smart: {
      targets: [{ model: 'openai/gpt-4o', weight: 3 }, 'azure/gpt-4o'],
      fallbacks: ['backup', 'groq/llama-3.1-70b'],
      contextFallbacks: ['anthropic/claude-long', 'big'],
      contentFallbacks: ['big'],
    },
    backup: { targets: ['anthropic/claude-sonnet'], fallbacks: ['smart', 'groq/llama-3.1-70b', 'groq/llama-3.1-8b'] },
    big: { targets: ['openai/o3'] },
    nested: { targets: [{ model: 'smart', weight: 1 }, { model: 'anthropic/claude-opus', weight: 1 }], fallbacks: ['big'] },
    selfish: { targets: ['selfish', 'openai/gpt-4o'] },
    loopA: { targets: ['openai/gpt-4o'], fallbacks: ['loopB'] },
    loopB: { targets: ['azure/gpt-4o'], fallbacks: ['loopA', 'big'] },
    ghost: { targets: ['nowhere/model', 'openai/gpt-4o'], fallbacks: ['unknown-model'] },
  }),
};

const ids = (chain: Chain, lane: 'main' | 'context' | 'content' = 'main'): string[] => laneTargets(chain, lane).map((t) => t.id);
const shape = (steps: ChainStep[]): [string, [string, number][]][] => steps.map((s) => [s.via, s.targets.map((t) => [t.target.id, t.weight])]);

describe('resolveModel', () => {
  const table: [string, string | undefined][] = [
    ['openai/gpt-4o', 'openai/gpt-4o'],
    ['gpt-4o', 'openai/gpt-4o'],
    ['claude-sonnet', 'anthropic/claude-sonnet'],
    ['llama-3.1-8b', 'groq/llama-3.1-8b'],
    ['openai/text-davinci-003', 'openai/text-davinci-003'],
    ['openai/gpt-oss-120b', 'openai/gpt-oss-120b'],
    ['mistral/large', undefined],
    ['nothing-serves-this', undefined],
    ['openai/', undefined],
  ];
  for (const [name, expected] of table) {
    it(`"${name}" → ${String(expected)}`, () => assert.equal(resolveModel(name, config.providers)?.id, expected));
  }

  it('splits provider and model', () => {
    assert.deepEqual(resolveModel('groq/llama-3.1-8b', config.providers), { id: 'groq/llama-3.1-8b', provider: 'groq', model: 'llama-3.1-8b' });
  });
});

describe('expandChain', () => {
  it('a plain "provider/model" is a one-target chain', () => {
    const chain = expandChain({ model: 'anthropic/claude-sonnet' }, config);
    assert.deepEqual(ids(chain), ['anthropic/claude-sonnet']);
    assert.equal(chain.alias, undefined);
    assert.deepEqual(chain.context, []);
  });

  it('an alias: its weighted group first, then fallbacks depth first, aliases expanded, no target twice', () => {
    const chain = expandChain({ model: 'smart' }, config);
    assert.equal(chain.alias, 'smart');
    assert.deepEqual(shape(chain.main), [
      ['smart', [['openai/gpt-4o', 0.75], ['azure/gpt-4o', 0.25]]],
      ['backup', [['anthropic/claude-sonnet', 1]]],
      // backup's fallback "smart" adds nothing new; its llama-70b comes before smart's own listing
      ['groq/llama-3.1-70b', [['groq/llama-3.1-70b', 1]]],
      ['groq/llama-3.1-8b', [['groq/llama-3.1-8b', 1]]],
    ]);
    assert.deepEqual(chain.unresolved, []);
  });

  it('alias cycles in fallbacks terminate', () => {
    const chain = expandChain({ model: 'loopA' }, config);
    assert.deepEqual(ids(chain), ['openai/gpt-4o', 'azure/gpt-4o', 'openai/o3']);
  });

  it('an alias that lists itself among its targets is cut, the rest kept', () => {
    const chain = expandChain({ model: 'selfish' }, config);
    assert.deepEqual(shape(chain.main), [['selfish', [['openai/gpt-4o', 0.5]]]]);
  });

  it('an alias among targets shares out its weight to its own targets', () => {
    const chain = expandChain({ model: 'nested' }, config);
    assert.deepEqual(shape(chain.main)[0], ['nested', [['openai/gpt-4o', 0.375], ['azure/gpt-4o', 0.125], ['anthropic/claude-opus', 0.5]]]);
    assert.deepEqual(ids(chain).slice(3), ['openai/o3'], "the inner alias's fallbacks are not brought in");
  });

  it('per-request fallbacks replace the alias fallbacks', () => {
    const chain = expandChain({ model: 'smart', fallbacks: ['anthropic/claude-opus', 'big'] }, config);
    assert.deepEqual(ids(chain), ['openai/gpt-4o', 'azure/gpt-4o', 'anthropic/claude-opus', 'openai/o3']);
  });

  it('naming the alias itself among per-request fallbacks brings its chain back', () => {
    const chain = expandChain({ model: 'smart', fallbacks: ['big', 'smart'] }, config);
    assert.deepEqual(ids(chain), ['openai/gpt-4o', 'azure/gpt-4o', 'openai/o3', 'anthropic/claude-sonnet', 'groq/llama-3.1-70b', 'groq/llama-3.1-8b']);
  });

  it('an empty per-request list keeps the alias fallbacks', () => {
    assert.deepEqual(ids(expandChain({ model: 'smart', fallbacks: [] }, config)), ids(expandChain({ model: 'smart' }, config)));
  });

  it('per-request fallbacks work for a plain model too and de-duplicate', () => {
    const chain = expandChain({ model: 'gpt-4o', fallbacks: ['openai/gpt-4o', 'claude-sonnet'] }, config);
    assert.deepEqual(ids(chain), ['openai/gpt-4o', 'anthropic/claude-sonnet']);
  });

  it('noFallback leaves only the primary group, without context or content chains', () => {
    const chain = expandChain({ model: 'smart', fallbacks: ['big'], noFallback: true }, config);
    assert.deepEqual(ids(chain), ['openai/gpt-4o', 'azure/gpt-4o']);
    assert.deepEqual(chain.context, []);
    assert.deepEqual(chain.content, []);
  });

  it('context and content chains expand the same way', () => {
    const chain = expandChain({ model: 'smart' }, config);
    assert.deepEqual(ids(chain, 'context'), ['anthropic/claude-long', 'openai/o3']);
    assert.deepEqual(ids(chain, 'content'), ['openai/o3']);
  });

  it('names that resolve nowhere are reported and left out', () => {
    const chain = expandChain({ model: 'ghost' }, config);
    assert.deepEqual(ids(chain), ['openai/gpt-4o']);
    assert.deepEqual(chain.unresolved.sort(), ['nowhere/model', 'unknown-model']);
    const lost = expandChain({ model: 'no-such-model' }, config);
    assert.deepEqual(lost.main, []);
    assert.deepEqual(lost.unresolved, ['no-such-model']);
  });

  it('a config without models still routes plain names', () => {
    assert.deepEqual(ids(expandChain({ model: 'gpt-4o', fallbacks: ['claude-x'] }, { providers: config.providers })), ['openai/gpt-4o', 'anthropic/claude-x']);
  });

  it('"constructor" and other prototype names are not aliases', () => {
    assert.deepEqual(expandChain({ model: 'constructor' }, config).unresolved, ['constructor']);
  });
});
