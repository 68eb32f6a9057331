import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exactModels, matchesModel } from './model-pattern.ts';

describe('matchesModel', () => {
  it('an exact name matches only itself', () => {
    assert.equal(matchesModel(['gpt-4o'], 'gpt-4o'), true);
    assert.equal(matchesModel(['gpt-4o'], 'gpt-4o-mini'), false);
    assert.equal(matchesModel(['gpt-4o'], 'xgpt-4o'), false);
    assert.equal(matchesModel(['gpt-4o'], 'GPT-4o'), false);
  });

  it('"*" matches any run of characters, including none', () => {
    assert.equal(matchesModel(['gpt-*'], 'gpt-4o'), true);
    assert.equal(matchesModel(['gpt-*'], 'gpt-4.1-mini-2025-04-14'), true);
    assert.equal(matchesModel(['gpt-*'], 'gpt-'), true);
    assert.equal(matchesModel(['gpt-*'], 'chatgpt-4o'), false, 'anchored at the start');
    assert.equal(matchesModel(['*-mini'], 'gpt-4o-mini'), true);
    assert.equal(matchesModel(['*-mini'], 'gpt-4o-mini-2024'), false, 'anchored at the end');
    assert.equal(matchesModel(['o1*'], 'o1'), true);
    assert.equal(matchesModel(['*'], ''), true);
    assert.equal(matchesModel(['*'], 'anything/at all'), true);
  });

  it('"*" crosses slashes', () => {
    assert.equal(matchesModel(['meta-llama/*'], 'meta-llama/llama-4-scout-17b'), true);
    assert.equal(matchesModel(['accounts/*/models/*'], 'accounts/fireworks/models/llama-v3'), true);
  });

  it('several stars in one pattern', () => {
    assert.equal(matchesModel(['*llama*instruct*'], 'meta-llama-3.1-8b-instruct-turbo'), true);
    assert.equal(matchesModel(['*llama*instruct*'], 'meta-llama-3.1-8b'), false);
  });

  it('regular-expression characters in a pattern are literal', () => {
    assert.equal(matchesModel(['gpt-4.1*'], 'gpt-4.1-mini'), true);
    assert.equal(matchesModel(['gpt-4.1*'], 'gpt-4x1-mini'), false, '"." is not any character');
    assert.equal(matchesModel(['a+b*'], 'a+b-1'), true);
    assert.equal(matchesModel(['a+b*'], 'aab-1'), false);
    assert.equal(matchesModel(['m(1)?[x]*'], 'm(1)?[x]z'), true);
    assert.equal(matchesModel(['m(1)?[x]*'], 'm1xz'), false);
    assert.equal(matchesModel(['$^*'], '$^end'), true);
    assert.equal(matchesModel(['a|b*'], 'b'), false);
    assert.equal(matchesModel(['c\\d*'], 'c\\d9'), true);
  });

  it('any one pattern matching is enough; none is no match', () => {
    assert.equal(matchesModel(['gpt-4o', 'claude-*'], 'claude-3-5-sonnet'), true);
    assert.equal(matchesModel(['gpt-4o', 'claude-*'], 'gemini-2.5-pro'), false);
    assert.equal(matchesModel([], 'gpt-4o'), false);
  });
});

describe('exactModels', () => {
  it('keeps only names without a star, in order', () => {
    assert.deepEqual(exactModels(['gpt-4o', 'gpt-*', 'o1*', 'gpt-4o-mini', '*']), ['gpt-4o', 'gpt-4o-mini']);
    assert.deepEqual(exactModels([]), []);
    assert.deepEqual(exactModels(['*']), []);
  });
});
