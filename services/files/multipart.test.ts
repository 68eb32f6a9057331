import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MultipartError, multipartBoundary, readMultipart } from './multipart.ts';

async function* split(body: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < body.length; i += size) yield body.subarray(i, i + size);
}

interface ReadPart {
  name: string;
  filename: string | undefined;
  contentType: string | undefined;
  text: string;
}

async function parse(body: Buffer | string, boundary: string, size = 1 << 16): Promise<ReadPart[]> {
  const out: ReadPart[] = [];
  for await (const part of readMultipart(split(Buffer.from(body), size), boundary)) {
    const chunks: Buffer[] = [];
    for await (const chunk of part.body) chunks.push(chunk);
    out.push({ name: part.name, filename: part.filename, contentType: part.contentType, text: Buffer.concat(chunks).toString() });
  }
  return out;
}

/** What undici's FormData sends (the openai SDK's uploads). */
async function formBytes(form: FormData): Promise<{ body: Buffer; boundary: string }> {
  const request = new Request('http://x/', { method: 'POST', body: form });
  const boundary = multipartBoundary(request.headers.get('content-type') ?? undefined);
  assert.ok(boundary);
  return { body: Buffer.from(await request.arrayBuffer()), boundary };
}

describe('multipartBoundary', () => {
  it('reads plain and quoted boundaries, and refuses other types or a missing boundary', () => {
    assert.equal(multipartBoundary('multipart/form-data; boundary=abc'), 'abc');
    assert.equal(multipartBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"'), 'a b:c');
    assert.equal(multipartBoundary('multipart/form-data'), undefined);
    assert.equal(multipartBoundary('multipart/mixed; boundary=abc'), undefined);
    assert.equal(multipartBoundary('application/json'), undefined);
    assert.equal(multipartBoundary(undefined), undefined);
    assert.equal(multipartBoundary(`multipart/form-data; boundary=${'x'.repeat(71)}`), undefined);
  });
});

describe('readMultipart', () => {
  it('reads what FormData sends, split at every possible chunk size', async () => {
    const form = new FormData();
    form.append('purpose', 'batch');
    const content = '{"custom_id":"1"}\r\n--not-the-boundary\r\n\r\n{"custom_id":"2"}\n';
    form.append('file', new File([content], 'in "put".jsonl', { type: 'application/jsonl' }));
    form.append('empty', '');
    const { body, boundary } = await formBytes(form);
    for (const size of [1, 2, 3, 7, 13, 64, 1 << 16]) {
      const parts = await parse(body, boundary, size);
      assert.deepEqual(
        parts.map((p) => [p.name, p.text]),
        [
          ['purpose', 'batch'],
          ['file', content],
          ['empty', ''],
        ],
        `chunk size ${size}`,
      );
      assert.equal(parts[1].filename, 'in %22put%22.jsonl');
      assert.equal(parts[1].contentType, 'application/jsonl');
      assert.equal(parts[0].filename, undefined);
    }
  });

  it('keeps binary bytes exact, including CR and LF and boundary look-alikes at chunk edges', async () => {
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) % 256));
    const tricky = Buffer.concat([bytes, Buffer.from('\r\n--XY'), bytes, Buffer.from('\r\n-')]);
    const form = new FormData();
    form.append('file', new File([tricky], 'b.bin'));
    const { body, boundary } = await formBytes(form);
    for (const size of [1, 5, 4096]) {
      const parts: Buffer[] = [];
      for await (const part of readMultipart(split(body, size), boundary)) {
        const chunks: Buffer[] = [];
        for await (const chunk of part.body) chunks.push(chunk);
        parts.push(Buffer.concat(chunks));
      }
      assert.equal(parts.length, 1);
      assert.ok(parts[0].equals(tricky), `chunk size ${size}`);
    }
  });

  it('skips a preamble, an epilogue, and the body of a part nobody read', async () => {
    const body = 'preamble\r\n--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nskipped\r\n--B\r\nContent-Disposition: form-data; name=b\r\n\r\nread\r\n--B--\r\nepilogue';
    const names: string[] = [];
    let text = '';
    for await (const part of readMultipart(split(Buffer.from(body), 3), 'B')) {
      names.push(part.name);
      if (part.name === 'b') for await (const chunk of part.body) text += chunk.toString();
    }
    assert.deepEqual(names, ['a', 'b']);
    assert.equal(text, 'read');
  });

  it('accepts transport padding after a boundary and a part with no headers is refused', async () => {
    const padded = '--B  \t\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--B--';
    assert.deepEqual((await parse(padded, 'B')).map((p) => p.text), ['v']);
    await assert.rejects(parse('--B\r\n\r\nv\r\n--B--', 'B'), /no Content-Disposition/);
  });

  const malformed: [string, string, RegExp][] = [
    ['a body cut before the closing boundary', '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nv', /ended before its closing boundary/],
    ['no boundary at all', 'just some bytes', /ended before its closing boundary/],
    ['a part that is not form-data', '--B\r\nContent-Disposition: attachment; name="a"\r\n\r\nv\r\n--B--', /not form-data/],
    ['a part without a name', '--B\r\nContent-Disposition: form-data\r\n\r\nv\r\n--B--', /no name/],
    ['a header line without a colon', '--B\r\nContent-Disposition: form-data; name=a\r\nnonsense\r\n\r\nv\r\n--B--', /Malformed multipart part header/],
    ['junk after the boundary on its line', '--Bjunk\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--B--', /boundary line/],
    ['headers cut by the end of the body', '--B\r\nContent-Disposition: form-data; name=a', /inside a part's headers/],
  ];
  for (const [what, body, message] of malformed) {
    it(`refuses ${what}`, async () => {
      await assert.rejects(parse(body, 'B'), (err: unknown) => err instanceof MultipartError && message.test(err.message));
    });
  }

  it('bounds header size, part count and skipped bytes', async () => {
    const hugeHeader = `--B\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ${'p'.repeat(20_000)}\r\n\r\nv\r\n--B--`;
    await assert.rejects(parse(hugeHeader, 'B'), /headers exceed/);
    const many = `${'--B\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n'.repeat(70)}--B--`;
    await assert.rejects(parse(many, 'B'), /Too many parts/);
    await assert.rejects(parse(`${'x'.repeat(70_000)}\r\n--B--`, 'B'), /No multipart boundary/);
  });
});
