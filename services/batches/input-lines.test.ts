import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { checkInputFile, checkInputLine, inputLines, type InputLine } from './input-lines.ts';

const chat = (customId: unknown, over: Record<string, unknown> = {}) =>
  JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/chat/completions', body: { model: 'mock/m', messages: [{ role: 'user', content: 'hi' }] }, ...over });
const routable = (body: { model: string }) => (body.model.startsWith('mock/') ? undefined : `The model \`${body.model}\` does not exist.`);
const linesOf = (text: string, from = { line: 0, offset: 0 }, chunks = 1): AsyncGenerator<InputLine> => {
  const bytes = Buffer.from(text).subarray(from.offset);
  const size = Math.ceil(bytes.length / chunks);
  return inputLines(Readable.from(Array.from({ length: chunks }, (_, i) => bytes.subarray(i * size, (i + 1) * size))), from);
};
const check = (text: string, endpoint: '/v1/chat/completions' | '/v1/embeddings' = '/v1/chat/completions', max = 50_000) => checkInputFile(linesOf(text), endpoint, routable, max);
const collect = async (lines: AsyncIterable<InputLine>): Promise<InputLine[]> => {
  const all: InputLine[] = [];
  for await (const line of lines) all.push(line);
  return all;
};

describe('inputLines', () => {
  const text = `\uFEFF${chat('a')}\r\n\n  \n${chat('b')}\n${chat('c')}`;

  it('yields the non-blank lines with their numbers, without BOM or line breaks, wherever the chunks split', async () => {
    for (const chunks of [1, 2, 7, 64]) {
      const lines = await collect(linesOf(text, undefined, chunks));
      assert.deepEqual(
        lines.map((l) => [l.number, l.text]),
        [
          [1, chat('a')],
          [4, chat('b')],
          [5, chat('c')],
        ],
        `${chunks} chunks`,
      );
    }
  });

  it('gives each line the byte where the next starts, so reading can resume there', async () => {
    const [first, second] = await collect(linesOf(text));
    const rest = await collect(linesOf(text, { line: first.number, offset: first.end }));
    assert.deepEqual(rest.map((l) => l.number), [4, 5]);
    assert.deepEqual(rest[0], second);
    assert.equal(second.end, Buffer.byteLength(text) - Buffer.byteLength(chat('c')));
  });
});

describe('checkInputLine', () => {
  it('turns a chat line into a request without stream, and an embeddings line into an embeddings request', () => {
    const line = checkInputLine(chat('a', { body: { model: 'mock/m', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] } }), 1, '/v1/chat/completions', new Set(), routable);
    assert.ok(!('error' in line));
    assert.equal(line.customId, 'a');
    assert.equal(line.request.operation, 'chat');
    assert.equal('stream' in line.request.body, false);
    assert.equal('stream_options' in line.request.body, false);
    const embeddings = checkInputLine(JSON.stringify({ custom_id: 'e', method: 'POST', url: '/v1/embeddings', body: { model: 'mock/e', input: 'hello' } }), 1, '/v1/embeddings', new Set(), routable);
    assert.ok(!('error' in embeddings));
    assert.equal(embeddings.request.operation, 'embeddings');
  });
});

describe('checkInputFile', () => {
  it('counts good lines, skipping blank lines and a BOM', async () => {
    const { requests, errors } = await check(`\uFEFF${chat('a', { body: { model: 'mock/m', stream: true, messages: [{ role: 'user', content: 'x' }] } })}\r\n\n${chat('b')}\n`);
    assert.deepEqual(errors, []);
    assert.equal(requests, 2);
  });

  it('reports every bad line with its 1-based number (blank lines counted), its code and param', async () => {
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
    const { errors } = await check(lines.join('\n'));
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

  it('checks embeddings bodies against the embeddings schema', async () => {
    const good = JSON.stringify({ custom_id: 'e', method: 'POST', url: '/v1/embeddings', body: { model: 'mock/e', input: 'hello' } });
    const bad = JSON.stringify({ custom_id: 'f', method: 'POST', url: '/v1/embeddings', body: { model: 'mock/e' } });
    const { requests, errors } = await check(`${good}\n${bad}`, '/v1/embeddings');
    assert.equal(requests, 1);
    assert.deepEqual(errors.map((e) => [e.line, e.param]), [[2, 'body.input']]);
  });

  it('refuses an empty file and one over the request limit', async () => {
    assert.equal((await check('\n\n')).errors[0].code, 'empty_file');
    assert.equal((await check([chat('a'), chat('b'), chat('c')].join('\n'), '/v1/chat/completions', 2)).errors[0].code, 'too_many_requests');
  });
});
