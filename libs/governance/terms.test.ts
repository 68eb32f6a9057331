import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatRequest } from '#libs/contracts/chat.ts';
import type { EmbeddingsRequest } from '#libs/contracts/embeddings.ts';
import type { Customer, KeyRecord, Team } from './accounts.ts';
import type { Principal } from './directory.ts';
import { chargedSubjects, estimatedTokens, keyFallbacks, meteredSubjects, modelRefusedBy } from './terms.ts';

const key = (terms: Partial<KeyRecord> = {}): KeyRecord => ({ id: 'k1', digest: '0'.repeat(64), createdAt: '2025-01-01T00:00:00Z', source: 'config', ...terms });
const team = (terms: Partial<Team> = {}): Team => ({ id: 't1', customer: 'c1', ...terms });
const customer = (terms: Partial<Customer> = {}): Customer => ({ id: 'c1', ...terms });

const chat = (body: Partial<ChatRequest>): ChatRequest => ({ model: 'gpt-4o', messages: [{ role: 'user', content: '' }], ...body });
const embeddings = (input: EmbeddingsRequest['input']): EmbeddingsRequest => ({ model: 'text-embedding-3-small', input });

describe('meteredSubjects', () => {
  it('leaves out every level with neither a limit nor a budget', () => {
    const principal: Principal = { key: key(), team: team({ limits: { rpm: 10 } }), customer: customer({ budgets: [{ usd: 5, period: 'month' }] }) };
    assert.deepEqual(
      meteredSubjects(principal).map((s) => s.subject),
      ['team:t1', 'customer:c1'],
    );
  });

  it('is empty for a principal with no terms at any level, and for an empty limits object', () => {
    assert.deepEqual(meteredSubjects({ key: key(), team: team({ limits: {} }), customer: customer({ budgets: [] }) }), []);
  });

  it('lists the key, then its team, then its customer', () => {
    const principal: Principal = { key: key({ limits: { tpm: 1000 } }), team: team({ limits: { rpm: 10 } }), customer: customer({ limits: { rpm: 100 } }) };
    assert.deepEqual(
      meteredSubjects(principal).map((s) => s.subject),
      ['key:k1', 'team:t1', 'customer:c1'],
    );
  });

  it('carries rpm and tpm as set, undefined where unset, and no budgets as []', () => {
    assert.deepEqual(meteredSubjects({ key: key({ limits: { rpm: 3 } }) }), [{ subject: 'key:k1', rpm: 3, tpm: undefined, budgets: [] }]);
    assert.deepEqual(meteredSubjects({ key: key({ limits: { tpm: 500 } }) }), [{ subject: 'key:k1', rpm: undefined, tpm: 500, budgets: [] }]);
  });

  it('turns USD budgets into whole micro-USD, rounded rather than truncated', () => {
    // 1.005 * 1e6 is 1004999.9999999999 in floating point: truncating would lose a micro-dollar.
    // 0.0000025 USD is 2.5 micro-USD: rounded half up to 3.
    const principal: Principal = { key: key({ budgets: [{ usd: 1.005, period: 'day' }, { usd: 0.0000025, period: 'total' }] }) };
    assert.deepEqual(meteredSubjects(principal)[0].budgets, [
      { period: 'day', microUsd: 1_005_000 },
      { period: 'total', microUsd: 3 },
    ]);
  });
});

describe('chargedSubjects', () => {
  it('charges the key alone when it has no team or customer', () => {
    assert.deepEqual(chargedSubjects({ key: 'k1' }), ['key:k1']);
  });

  it('charges key, team and customer in that order', () => {
    assert.deepEqual(chargedSubjects({ key: 'k1', team: 't1', customer: 'c1' }), ['key:k1', 'team:t1', 'customer:c1']);
  });

  it('skips a level that is unset or empty', () => {
    assert.deepEqual(chargedSubjects({ key: 'k1', team: undefined, customer: 'c1' }), ['key:k1', 'customer:c1']);
    assert.deepEqual(chargedSubjects({ key: 'k1', team: '', customer: undefined }), ['key:k1']);
  });
});

describe('modelRefusedBy', () => {
  it('allows a model when any of its names matches: `openai/gpt-4o-mini` by `gpt-4o*`', () => {
    const namesOf = (model: string): string[] => (model.startsWith('openai/') ? [model, model.slice('openai/'.length)] : [model]);
    const principal = { key: key({ models: ['gpt-4o*'] }) };
    assert.equal(modelRefusedBy(principal, 'openai/gpt-4o-mini', namesOf), undefined);
    assert.equal(modelRefusedBy(principal, 'openai/gpt-4o-mini'), 'key:k1', 'by its name as given alone, the pattern does not match');
    assert.equal(modelRefusedBy(principal, 'openai/o3', namesOf), 'key:k1');
  });

  it('allows every model when no level lists models', () => {
    assert.equal(modelRefusedBy({ key: key(), team: team(), customer: customer() }, 'anything-at-all'), undefined);
  });

  it('matches glob patterns: `*` runs of characters, everything else literally', () => {
    const principal: Principal = { key: key({ models: ['gpt-4.1*', 'claude-3-5-sonnet'] }) };
    assert.equal(modelRefusedBy(principal, 'gpt-4.1-mini'), undefined);
    assert.equal(modelRefusedBy(principal, 'gpt-4.1'), undefined);
    assert.equal(modelRefusedBy(principal, 'claude-3-5-sonnet'), undefined);
    assert.equal(modelRefusedBy(principal, 'gpt-401'), 'key:k1', 'the dot is literal, not any character');
    assert.equal(modelRefusedBy(principal, 'claude-3-5-sonnet-latest'), 'key:k1', 'an exact name does not match a longer one');
    assert.equal(modelRefusedBy(principal, 'my-gpt-4.1'), 'key:k1', 'a glob is anchored at the start');
  });

  it('reports the level that refuses: key, team or customer', () => {
    assert.equal(modelRefusedBy({ key: key({ models: ['a'] }), team: team(), customer: customer() }, 'b'), 'key:k1');
    assert.equal(modelRefusedBy({ key: key(), team: team({ models: ['a'] }), customer: customer() }, 'b'), 'team:t1');
    assert.equal(modelRefusedBy({ key: key(), team: team(), customer: customer({ models: ['a'] }) }, 'b'), 'customer:c1');
  });

  it('needs every level to allow the model: a key allowing it does not override its customer', () => {
    assert.equal(modelRefusedBy({ key: key({ models: ['*'] }), customer: customer({ models: ['gpt-*'] }) }, 'claude-3'), 'customer:c1');
    assert.equal(modelRefusedBy({ key: key({ models: ['*'] }), customer: customer({ models: ['gpt-*'] }) }, 'gpt-4o'), undefined);
  });

  it('reports the first refusing level, key before team before customer', () => {
    const principal: Principal = { key: key({ models: ['a'] }), team: team({ models: ['a'] }), customer: customer({ models: ['a'] }) };
    assert.equal(modelRefusedBy(principal, 'b'), 'key:k1');
    assert.equal(modelRefusedBy({ ...principal, key: key() }, 'b'), 'team:t1');
  });

  it('refuses every model at a level whose list is set but empty (unset, not empty, means all)', () => {
    assert.equal(modelRefusedBy({ key: key({ models: [] }) }, 'gpt-4o'), 'key:k1');
  });
});

describe('keyFallbacks', () => {
  it('uses the entry for the model over the `*` entry', () => {
    const principal: Principal = { key: key({ fallbacks: { '*': ['any-fallback'], 'gpt-4o': ['gpt-4o-mini'] } }) };
    assert.deepEqual(keyFallbacks(principal, 'gpt-4o'), ['gpt-4o-mini']);
  });

  it('uses the `*` entry for a model with no entry of its own', () => {
    const principal: Principal = { key: key({ fallbacks: { '*': ['any-fallback'], 'gpt-4o': ['gpt-4o-mini'] } }) };
    assert.deepEqual(keyFallbacks(principal, 'claude-3'), ['any-fallback']);
  });

  it('is undefined for a key with no fallbacks, or none for this model and no `*`', () => {
    assert.equal(keyFallbacks({ key: key() }, 'gpt-4o'), undefined);
    assert.equal(keyFallbacks({ key: key({ fallbacks: { 'gpt-4o': ['gpt-4o-mini'] } }) }, 'claude-3'), undefined);
  });

  it('does not take a model named after an Object.prototype member for an entry (model "constructor" got a function)', () => {
    const principal: Principal = { key: key({ fallbacks: { '*': ['any-fallback'] } }) };
    assert.deepEqual(keyFallbacks(principal, 'constructor'), ['any-fallback']);
    assert.equal(keyFallbacks({ key: key({ fallbacks: { 'gpt-4o': ['x'] } }) }, 'toString'), undefined);
  });
});

describe('estimatedTokens: chat', () => {
  it('counts the text of all messages together at four characters a token, rounded up', () => {
    // 5 + 3 = 8 characters: two tokens.
    assert.equal(estimatedTokens('chat', chat({ messages: [{ role: 'system', content: 'abcde' }, { role: 'user', content: 'abc' }] })), 2);
    // One character in each of two messages is 2 characters, one token: the sum is rounded, not each message.
    assert.equal(estimatedTokens('chat', chat({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] })), 1);
    assert.equal(estimatedTokens('chat', chat({ messages: [{ role: 'user', content: 'abcdefghi' }] })), 3);
  });

  it('counts the text parts of a content array and nothing else', () => {
    const body = chat({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'abcd' },
            { type: 'image_url', image_url: { url: 'https://example.com/a-very-long-image-url-that-is-not-text.png' } },
            { type: 'text', text: 'e' },
          ],
        },
      ],
    });
    assert.equal(estimatedTokens('chat', body), 2);
  });

  it('counts a message with null or no content as no text', () => {
    assert.equal(estimatedTokens('chat', chat({ messages: [{ role: 'assistant', content: null }, { role: 'user', content: 'abcd' }] })), 1);
  });

  it('adds max_completion_tokens, else max_tokens, else nothing', () => {
    const messages: ChatRequest['messages'] = [{ role: 'user', content: 'abcdefgh' }];
    assert.equal(estimatedTokens('chat', chat({ messages, max_completion_tokens: 100, max_tokens: 50 })), 2 + 100);
    assert.equal(estimatedTokens('chat', chat({ messages, max_tokens: 50 })), 2 + 50);
    assert.equal(estimatedTokens('chat', chat({ messages, max_completion_tokens: null, max_tokens: 50 })), 2 + 50);
    assert.equal(estimatedTokens('chat', chat({ messages })), 2);
  });

  it('multiplies the completion tokens by n (each choice may use them all), but counts the prompt once', () => {
    const messages: ChatRequest['messages'] = [{ role: 'user', content: 'abcdefgh' }];
    assert.equal(estimatedTokens('chat', chat({ messages, max_tokens: 10, n: 3 })), 2 + 30);
    assert.equal(estimatedTokens('chat', chat({ messages, max_tokens: 10, n: null })), 2 + 10);
  });
});

describe('estimatedTokens: embeddings', () => {
  it('counts a string at four characters a token, rounded up', () => {
    assert.equal(estimatedTokens('embeddings', embeddings('abcdefghi')), 3);
    assert.equal(estimatedTokens('embeddings', embeddings('')), 0);
  });

  it('rounds each string of an array on its own, then sums', () => {
    // Three one-character strings are three tokens; rounding their 3 characters together would give 1.
    assert.equal(estimatedTokens('embeddings', embeddings(['a', 'b', 'c'])), 3);
    assert.equal(estimatedTokens('embeddings', embeddings(['abcdefgh', 'abcd'])), 3);
  });

  it('counts a token array as its length', () => {
    assert.equal(estimatedTokens('embeddings', embeddings([101, 2023, 2003, 102])), 4);
  });

  it('counts an array of token arrays as the sum of their lengths', () => {
    assert.equal(estimatedTokens('embeddings', embeddings([[1, 2], [3, 4, 5]])), 5);
  });
});
