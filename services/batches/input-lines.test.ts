import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkInputFile } from './input-lines.ts';

const chat = (customId: unknown, over: Record<string, unknown> = {}) =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/chat/completions', body: { model: 'mock/m', messages: [{ role: 'user', content: 'hi' }] }, ...over });
const routable = (body: { model: string }) => (body.model.startsWith('mock/') ? undefined : `The model \`${body.model}\` does not exist.`);
const check = (text: string, endpoint: '/v1/chat/completions' | '/v1/embeddings' = '/v1/chat/completions', max = 50_000) => checkInputFile(text, endpoint, routable, max);

describe('checkInputFile', () => {
  it('turns good lines into requests, skipping blank lines and a BOM, and drops stream from chat bodies', () => {
    const { requests, errors } = check(`\uFEFF${chat('a', { body: { model: 'mock/m', stream: true, messages: [{ role: 'user', content: 'x' }] } })}\r\n\n${chat('b')}\n`);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests.map((r) => r.customId), ['a', 'b']);
    assert.equal(requests[0].request.operation, 'chat');
    assert.equal('stream' in requests[0].request.body, false);
  });

  it('reports every bad line with its 1-based number (blank lines counted), its code and param', () => {
    const lines = [
      chat('a'),
      '{not json',
      '[1]',
      chat(undefined),
      chat(7),
      chat('a'),
      chat('g', { method: 'GET' }),
      chat('h', { url: '/v1/embeddings' }),
      chat('i', { body: { model: 'mock/m', messages: [] } }),
      chat('j', { body: { model: 'nowhere/m', messages: [{ role: 'user', content: 'x' }] } }),
      chat('k', { body: 'text' }),
    ];
    const { errors } = check(lines.join('\n'));
    assert.deepEqual(
      errors.map((e) => [e.line, e.code, e.param]),
      [
        [2, 'invalid_json_line', null],
        [3, 'invalid_json_line', null],
        [4, 'missing_required_parameter', 'custom_id'],
        [5, 'invalid_value', 'custom_id'],
        [6, 'duplicate_custom_id', 'custom_id'],
        [7, 'invalid_method', 'method'],
        [8, 'invalid_url', 'url'],
        [9, 'invalid_value', 'body.messages'],
        [10, 'model_not_found', 'body.model'],
        [11, 'invalid_request_body', 'body'],
      ],
    );
    assert.ok(errors.every((e) => e.message.length > 0));
  });

  it('checks embeddings bodies against the embeddings schema', () => {
    const good = JSON.stringify({ custom_id: 'e', method: 'POST', url: '/v1/embeddings', body: { model: 'mock/e', input: 'hello' } });
    const bad = JSON.stringify({ custom_id: 'f', method: 'POST', url: '/v1/embeddings', body: { model: 'mock/e' } });
    const { requests, errors } = check(`${good}\n${bad}`, '/v1/embeddings');
    assert.deepEqual([requests.length, requests[0].request.operation], [1, 'embeddings']);
    assert.deepEqual(errors.map((e) => [e.line, e.param]), [[2, 'body.input']]);
  });

  it('refuses an empty file and one over the request limit', () => {
    assert.equal(check('\n\n').errors[0].code, 'empty_file');
    assert.equal(check([chat('a'), chat('b'), chat('c')].join('\n'), '/v1/chat/completions', 2).errors[0].code, 'too_many_requests');
  });
});
