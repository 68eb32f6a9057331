import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chatRequestSchema } from '#libs/contracts/chat.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { parseOrThrow } from './validate.ts';

/** The GatewayError parseOrThrow throws for `body`; fails when it throws nothing or something else. */
function rejection(body: unknown): GatewayError {
  try {
    parseOrThrow(chatRequestSchema, body);
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.body.type, 'invalid_request_error');
    assert.equal(err.body.message, err.message);
    return err;
  }
  assert.fail('expected parseOrThrow to throw');
}

const valid = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

describe('parseOrThrow(chatRequestSchema)', () => {
  it('returns a valid body, unknown fields included', () => {
    const body = { ...valid, temperature: 0.2, seed: 7, metadata: { team: 'a' } };
    const parsed = parseOrThrow(chatRequestSchema, body);
    assert.equal(parsed.model, 'gpt-4o-mini');
    assert.equal(parsed.temperature, 0.2);
    assert.deepEqual(parsed.messages, [{ role: 'user', content: 'hi' }]);
    assert.equal((parsed as Record<string, unknown>).seed, 7, 'unknown fields pass through to the provider');
    assert.deepEqual((parsed as Record<string, unknown>).metadata, { team: 'a' });
  });

  it('a missing messages field is "Missing required parameter" with param messages', () => {
    const err = rejection({ model: 'gpt-4o-mini' });
    assert.equal(err.message, "Missing required parameter: 'messages'.");
    assert.equal(err.body.param, 'messages');
    assert.equal(err.body.code, 'missing_required_parameter');
  });

  it('a missing model field is "Missing required parameter" with param model', () => {
    const err = rejection({ messages: valid.messages });
    assert.equal(err.message, "Missing required parameter: 'model'.");
    assert.equal(err.body.param, 'model');
    assert.equal(err.body.code, 'missing_required_parameter');
  });

  it('an invalid nested value names the path messages[0].role', () => {
    const err = rejection({ model: 'gpt-4o-mini', messages: [{ role: 'wizard', content: 'hi' }] });
    assert.equal(err.body.param, 'messages[0].role');
    assert.match(err.message, /^Invalid value for 'messages\[0\]\.role': /);
    assert.equal(err.body.code, 'invalid_value');
  });

  it('an invalid value deeper in the list names its index', () => {
    const err = rejection({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 5 }] });
    assert.equal(err.body.param, 'messages[1].content');
    assert.match(err.message, /^Invalid value for 'messages\[1\]\.content': /);
  });

  it('missing_role_reported_as_missing_required_parameter', () => {
    const err = rejection({ model: 'gpt-4o-mini', messages: [{ content: 'hi' }] });
    assert.equal(err.body.param, 'messages[0].role');
    assert.equal(err.message, "Missing required parameter: 'messages[0].role'.");
    assert.equal(err.body.code, 'missing_required_parameter');
  });

  it('a value of the wrong type is invalid, not missing', () => {
    const err = rejection({ ...valid, temperature: 'hot' });
    assert.equal(err.body.param, 'temperature');
    assert.match(err.message, /^Invalid value for 'temperature': /);
    assert.equal(err.body.code, 'invalid_value');
  });

  it('an out-of-range value is invalid', () => {
    const err = rejection({ ...valid, temperature: 3 });
    assert.equal(err.body.param, 'temperature');
    assert.equal(err.body.code, 'invalid_value');
  });

  it('a null required field counts as invalid, since it was sent', () => {
    const err = rejection({ model: null, messages: valid.messages });
    assert.equal(err.body.param, 'model');
    assert.equal(err.body.code, 'invalid_value');
  });

  it('an empty messages list is invalid with its own message', () => {
    const err = rejection({ model: 'gpt-4o-mini', messages: [] });
    assert.equal(err.body.param, 'messages');
    assert.equal(err.message, "Invalid value for 'messages': messages must contain at least one message.");
  });

  it('an empty model is invalid with its own message', () => {
    const err = rejection({ model: '', messages: valid.messages });
    assert.equal(err.message, "Invalid value for 'model': model must be a non-empty string.");
  });

  for (const [name, body] of [
    ['null', null],
    ['undefined', undefined],
    ['an array', [valid]],
    ['a string', 'hello'],
    ['a number', 42],
    ['a boolean', true],
  ] as const) {
    it(`a body that is ${name} is invalid_request_body`, () => {
      const err = rejection(body);
      assert.equal(err.body.code, 'invalid_request_body');
      assert.equal(err.body.param, null);
      assert.equal(err.message, 'The request body must be a JSON object.');
    });
  }
});
