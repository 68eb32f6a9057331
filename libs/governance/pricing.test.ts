import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { costMicroUsd, priceOf, type PriceTable } from './pricing.ts';

// Distinct prices per entry, so the price found says which entry was used.
const p = (input: number): PriceTable[string] => ({ input, output: input * 10 });

describe('priceOf', () => {
  const table: PriceTable = { 'openai/gpt-4o': p(1), 'gpt-4o': p(2), 'gpt-4o*': p(3), 'azure/*': p(4), 'claude-*': p(5) };

  it('finds `provider/model` first', () => {
    assert.deepEqual(priceOf(table, 'openai', 'gpt-4o'), p(1));
  });

  it('then the model alone, for another provider or none', () => {
    assert.deepEqual(priceOf(table, 'groq', 'gpt-4o'), p(2));
    assert.deepEqual(priceOf(table, undefined, 'gpt-4o'), p(2));
  });

  it('takes an exact model name over a glob on `provider/model`', () => {
    assert.deepEqual(priceOf(table, 'azure', 'gpt-4o'), p(2), 'exact "gpt-4o" beats "azure/*"');
  });

  it('falls back to globs, on `provider/model` before the model alone', () => {
    assert.deepEqual(priceOf(table, 'azure', 'gpt-4o-mini'), p(4), '"azure/*" is tried before "gpt-4o*"');
    assert.deepEqual(priceOf(table, 'openai', 'gpt-4o-mini'), p(3));
    assert.deepEqual(priceOf(table, undefined, 'claude-3-5-sonnet'), p(5));
  });

  it('is undefined when nothing covers the model', () => {
    assert.equal(priceOf(table, 'openai', 'o3'), undefined);
    assert.equal(priceOf({}, 'openai', 'gpt-4o'), undefined);
  });

  it('does not take a model named after an Object.prototype member for a priced one (was a function, costing NaN)', () => {
    assert.equal(priceOf(table, 'openai', 'constructor'), undefined);
    assert.equal(priceOf(table, undefined, 'toString'), undefined);
  });
});

describe('costMicroUsd', () => {
  const table: PriceTable = { 'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 }, 'gpt-4o-mini': { input: 2.5, output: 10 }, free: { input: 0, output: 0 } };

  it('prices prompt and completion tokens per million, which is micro-USD per token', () => {
    // 1000 × $2.50/M = $0.0025 = 2500 µUSD; 500 × $10/M = $0.005 = 5000 µUSD.
    assert.equal(costMicroUsd(table, 'openai', 'gpt-4o', { prompt: 1000, completion: 500, cached: 0 }), 7500);
  });

  it('prices cached prompt tokens at cachedInput, the rest of the prompt at input', () => {
    // 600 × 2.5 + 400 × 1.25 + 500 × 10
    assert.equal(costMicroUsd(table, 'openai', 'gpt-4o', { prompt: 1000, completion: 500, cached: 400 }), 1500 + 500 + 5000);
  });

  it('prices cached tokens at input when the model has no cachedInput price', () => {
    assert.equal(costMicroUsd(table, 'openai', 'gpt-4o-mini', { prompt: 1000, completion: 500, cached: 400 }), 2500 + 5000);
  });

  it('never counts more cached tokens than prompt tokens', () => {
    // All 1000 prompt tokens at the cached price, none at a negative count of uncached ones.
    assert.equal(costMicroUsd(table, 'openai', 'gpt-4o', { prompt: 1000, completion: 0, cached: 5000 }), 1250);
  });

  it('is null when no price covers the model, and 0 for a free one', () => {
    assert.equal(costMicroUsd(table, 'openai', 'o3', { prompt: 10, completion: 10, cached: 0 }), null);
    assert.equal(costMicroUsd({}, 'openai', 'gpt-4o', { prompt: 10, completion: 10, cached: 0 }), null);
    assert.equal(costMicroUsd(table, 'openai', 'free', { prompt: 10, completion: 10, cached: 0 }), 0);
  });

  it('rounds to whole micro-USD', () => {
    const cheap: PriceTable = { m: { input: 0.5, output: 0.4 } };
    assert.equal(costMicroUsd(cheap, undefined, 'm', { prompt: 3, completion: 0, cached: 0 }), 2, '1.5 rounds up to 2');
    assert.equal(costMicroUsd(cheap, undefined, 'm', { prompt: 0, completion: 1, cached: 0 }), 0, '0.4 rounds down to 0');
    assert.ok(Number.isInteger(costMicroUsd(cheap, undefined, 'm', { prompt: 7, completion: 3, cached: 0 })));
  });
});
