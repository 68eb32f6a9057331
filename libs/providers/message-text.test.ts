import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatMessage } from '#libs/contracts/chat.ts';
import { lastUserText, messageText, splitTokens } from './message-text.ts';

describe('messageText', () => {
  it('returns string content as it is', () => {
    assert.equal(messageText({ role: 'user', content: 'hello there' }), 'hello there');
  });

  it('joins the text parts of array content and skips the others', () => {
    const message: ChatMessage = {
      role: 'user',
      content: [
        { type: 'text', text: 'look at ' },
        { type: 'image_url', image_url: { url: 'https://example.test/cat.png' } },
        { type: 'text', text: 'this' },
        { type: 'text' },
        { type: 'input_audio', text: 'not text type' },
      ],
    };
    assert.equal(messageText(message), 'look at this');
  });

  it('returns the empty string for null, missing content or no message', () => {
    assert.equal(messageText({ role: 'assistant', content: null }), '');
    assert.equal(messageText({ role: 'assistant' }), '');
    assert.equal(messageText(undefined), '');
  });
});

describe('lastUserText', () => {
  it('returns the text of the last user message', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'reply' },
      { role: 'user', content: [{ type: 'text', text: 'second' }] },
      { role: 'assistant', content: 'later reply' },
    ];
    assert.equal(lastUserText(messages), 'second');
  });

  it('returns the empty string when there is no user message', () => {
    assert.equal(lastUserText([{ role: 'system', content: 'x' }]), '');
    assert.equal(lastUserText([]), '');
  });
});

/** A small deterministic generator (mulberry32), so a failure is reproducible from the seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pieces = [' ', '  ', '\n', '\n\n', '\t', '\r\n', '\u00a0', 'a', 'word', 'é', '日本', '🙂', '.', ',', 'x-y', '\u2003'];

function generated(seed: number): string {
  const next = random(seed);
  const length = Math.floor(next() * 30);
  let s = '';
  for (let i = 0; i < length; i++) s += pieces[Math.floor(next() * pieces.length)];
  return s;
}

describe('splitTokens', () => {
  it('splits words, each token carrying its leading and trailing whitespace', () => {
    assert.deepEqual(splitTokens('Hello there world'), ['Hello ', 'there ', 'world']);
  });

  it('keeps leading, trailing and repeated whitespace and newlines', () => {
    const cases = ['  lead', 'trail  ', '  both  ', 'a  b   c', 'line one\nline two\n', '\n\nstart', 'tab\tsep', 'a\r\nb'];
    for (const text of cases) assert.equal(splitTokens(text).join(''), text, JSON.stringify(text));
  });

  it('the empty string has no tokens', () => {
    assert.deepEqual(splitTokens(''), []);
  });

  it('whitespace alone is one token', () => {
    assert.deepEqual(splitTokens('   '), ['   ']);
    assert.deepEqual(splitTokens('\n'), ['\n']);
  });

  it('every token but whitespace-only input holds exactly one word', () => {
    for (const token of splitTokens('  one two\n\nthree  ')) assert.equal(token.trim().split(/\s+/).length, 1, JSON.stringify(token));
  });

  it('concatenates back to the input exactly for 500 generated strings', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const text = generated(seed);
      const tokens = splitTokens(text);
      assert.equal(tokens.join(''), text, `seed ${seed}: ${JSON.stringify(text)}`);
      assert.ok(tokens.every((t) => t.length > 0), `seed ${seed}: no empty tokens`);
      const words = text.split(/\s+/).filter(Boolean).length;
      assert.equal(tokens.length, words === 0 ? (text ? 1 : 0) : words, `seed ${seed}: one token per word`);
    }
  });
});
