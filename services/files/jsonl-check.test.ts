import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { JsonlCheck } from './jsonl-check.ts';

function check(text: string | Buffer, chunkSize = 1 << 16, maxLines = 100): JsonlCheck {
  const bytes = Buffer.from(text);
  const c = new JsonlCheck({ maxLines });
  for (let i = 0; i < bytes.length; i += chunkSize) c.push(bytes.subarray(i, i + chunkSize));
  c.end();
  return c;
}

describe('JsonlCheck', () => {
  it('counts one request per JSON object line, with or without a final newline, at any chunk size', () => {
    for (const size of [1, 2, 5, 1 << 16]) {
      assert.deepEqual([check('{"a":1}\n{"b":"x\\ny"}\n', size).requests, check('{"a":1}\n{"b":2}', size).requests], [2, 2]);
      assert.equal(check('{"a":1}\n{"b":2}', size).problem, undefined);
    }
  });

  it('accepts CRLF line ends, a UTF-8 byte order mark and blank lines, which are not requests', () => {
    const c = check('\ufeff{"a":1}\r\n\r\n   \n{"b":"é"}\r\n');
    assert.equal(c.problem, undefined);
    assert.equal(c.requests, 2);
  });

  it('names the first bad line, counting blank lines too, at any chunk size', () => {
    for (const size of [1, 3, 1 << 16]) {
      const c = check('{"a":1}\n\n{"broken"\n{also bad\n', size);
      assert.equal(c.problem?.line, 3);
      assert.match(c.problem?.reason ?? '', /^is not valid JSON/);
    }
    assert.equal(check('{"a":1}\n{"last": ').problem?.line, 2);
  });

  it('wants an object on every line, and UTF-8', () => {
    assert.deepEqual(check('{"a":1}\n[1,2]\n').problem, { line: 2, reason: 'is not a JSON object' });
    assert.deepEqual(check('42\n').problem, { line: 1, reason: 'is not a JSON object' });
    assert.deepEqual(check(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x0a])).problem, { line: 1, reason: 'is not valid UTF-8' });
  });

  it('stops at the request past the limit', () => {
    const c = check('{}\n{}\n{}\n{}\n', 1 << 16, 3);
    assert.equal(c.problem?.line, 4);
    assert.match(c.problem?.reason ?? '', /limit of 3 requests/);
  });
});
