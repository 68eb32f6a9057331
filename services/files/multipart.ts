// A streaming multipart/form-data reader (RFC 7578) for uploads: parts come one at a time and a
// part's body is a stream of chunks, so a 200 MB file never sits in memory. Memory held at any
// time is one network chunk plus the boundary's length.
export class MultipartError extends Error {}

export interface MultipartLimits {
  /** Bytes of one part's header block. */
  maxHeaderBytes: number;
  maxParts: number;
  /** Bytes of preamble, and of epilogue after the closing boundary, that are skipped. */
  maxSkipBytes: number;
}

const defaultLimits: MultipartLimits = { maxHeaderBytes: 16 * 1024, maxParts: 64, maxSkipBytes: 64 * 1024 };

export interface MultipartPart {
  name: string;
  /** Present (possibly empty) when the part is a file. */
  filename: string | undefined;
  contentType: string | undefined;
  /** The part's bytes. Read it, or leave it: the reader skips what is left when the next part is asked for. */
  body: AsyncIterable<Buffer>;
}

/** The boundary of a `multipart/form-data` content type, or undefined when it is not one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const [essence, ...rest] = contentType.split(';');
  if (essence.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  const boundary = parameters(`;${rest.join(';')}`).get('boundary');
  // RFC 2046: 1 to 70 characters, not ending in a space.
  if (boundary === undefined || boundary.length < 1 || boundary.length > 70 || boundary.endsWith(' ')) return undefined;
  return boundary;
}

const crlf = Buffer.from('\r\n');
const headerEnd = Buffer.from('\r\n\r\n');
const empty = Buffer.alloc(0);

/** Reads bytes from the source as they are needed; never more than one chunk ahead. */
class Cursor {
  buf: Buffer = empty;
  private ended = false;
  private readonly source: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterator<Uint8Array>) {
    this.source = source;
  }

  /** Appends the next chunk; false at the end of the source. */
  async more(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done === true) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }

  /**
   * The next bytes before `delimiter`, or undefined once the delimiter is reached (it is then
   * consumed). Keeps back just enough bytes to find a delimiter split across chunks.
   */
  async before(delimiter: Buffer): Promise<Buffer | undefined> {
    for (;;) {
      const at = this.buf.indexOf(delimiter);
      if (at === 0) {
        this.buf = this.buf.subarray(delimiter.length);
        return undefined;
      }
      const safe = at > 0 ? at : this.buf.length - (delimiter.length - 1);
      if (safe > 0) {
        const out = this.buf.subarray(0, safe);
        this.buf = this.buf.subarray(safe);
        return out;
      }
      if (!(await this.more())) throw new MultipartError('The multipart body ended before its closing boundary.');
    }
  }

  /** Ensures at least n buffered bytes; false if the source ends first. */
  async need(n: number): Promise<boolean> {
    while (this.buf.length < n) if (!(await this.more())) return false;
    return true;
  }

  async drain(maxBytes: number): Promise<void> {
    let seen = this.buf.length;
    this.buf = empty;
    while (seen <= maxBytes && (await this.more())) {
      seen += this.buf.length;
      this.buf = empty;
    }
    if (seen > maxBytes) throw new MultipartError('Too much data after the closing multipart boundary.');
  }
}

class PartBody implements AsyncIterable<Buffer> {
  private done = false;
  private readonly cursor: Cursor;
  private readonly delimiter: Buffer;

  constructor(cursor: Cursor, delimiter: Buffer) {
    this.cursor = cursor;
    this.delimiter = delimiter;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (let chunk = await this.read(); chunk !== undefined; chunk = await this.read()) yield chunk;
  }

  async skip(): Promise<void> {
    while ((await this.read()) !== undefined);
  }

  private async read(): Promise<Buffer | undefined> {
    if (this.done) return undefined;
    const chunk = await this.cursor.before(this.delimiter);
    if (chunk === undefined) this.done = true;
    return chunk;
  }
}

/** The parts of a multipart/form-data body, in order. Throws MultipartError on a malformed body. */
export async function* readMultipart(source: AsyncIterable<Uint8Array>, boundary: string, limits: Partial<MultipartLimits> = {}): AsyncGenerator<MultipartPart> {
  const { maxHeaderBytes, maxParts, maxSkipBytes } = { ...defaultLimits, ...limits };
  const cursor = new Cursor(source[Symbol.asyncIterator]());
  // Every boundary but the first follows a CRLF that belongs to it; a CRLF put in front makes the
  // first one look the same, whether or not a preamble comes before it.
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  cursor.buf = Buffer.from(crlf);
  let skipped = 0;
  for (let chunk = await cursor.before(delimiter); chunk !== undefined; chunk = await cursor.before(delimiter)) {
    skipped += chunk.length;
    if (skipped > maxSkipBytes) throw new MultipartError('No multipart boundary found where the body begins.');
  }
  for (let count = 0; ; count++) {
    if (!(await cursor.need(2))) throw new MultipartError('The multipart body ended before its closing boundary.');
    if (cursor.buf[0] === 0x2d && cursor.buf[1] === 0x2d) {
      await cursor.drain(maxSkipBytes);
      return;
    }
    if (count >= maxParts) throw new MultipartError(`Too many parts in the multipart body (at most ${maxParts}).`);
    const headers = await readHeaders(cursor, maxHeaderBytes);
    const part = describePart(headers);
    const body = new PartBody(cursor, delimiter);
    yield { ...part, body };
    await body.skip();
  }
}

/** The rest of the boundary line (transport padding, then CRLF) and the part's header block. */
async function readHeaders(cursor: Cursor, maxBytes: number): Promise<Map<string, string>> {
  let lineEnd = cursor.buf.indexOf(crlf);
  while (lineEnd < 0) {
    if (cursor.buf.length > maxBytes || !(await cursor.more())) throw new MultipartError('Malformed multipart boundary line.');
    lineEnd = cursor.buf.indexOf(crlf);
  }
  if (!/^[ \t]*$/.test(cursor.buf.subarray(0, lineEnd).toString('latin1'))) throw new MultipartError('Malformed multipart boundary line.');
  cursor.buf = cursor.buf.subarray(lineEnd);
  // The header block now starts at a CRLF and ends at the first CRLF CRLF; no headers at all is
  // just that CRLF CRLF.
  let end = cursor.buf.indexOf(headerEnd);
  while (end < 0) {
    if (cursor.buf.length > maxBytes) throw new MultipartError(`A multipart part's headers exceed ${maxBytes} bytes.`);
    if (!(await cursor.more())) throw new MultipartError('The multipart body ended inside a part\'s headers.');
    end = cursor.buf.indexOf(headerEnd);
  }
  if (end > maxBytes) throw new MultipartError(`A multipart part's headers exceed ${maxBytes} bytes.`);
  const block = cursor.buf.subarray(2, end).toString('utf8');
  cursor.buf = cursor.buf.subarray(end + headerEnd.length);
  const headers = new Map<string, string>();
  for (const line of block.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`Malformed multipart part header: ${JSON.stringify(line.slice(0, 100))}.`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function describePart(headers: Map<string, string>): Omit<MultipartPart, 'body'> {
  const disposition = headers.get('content-disposition');
  if (disposition === undefined) throw new MultipartError('A multipart part has no Content-Disposition header.');
  const [type, ...rest] = disposition.split(';');
  if (type.trim().toLowerCase() !== 'form-data') throw new MultipartError('A multipart part\'s Content-Disposition is not form-data.');
  const params = parameters(`;${rest.join(';')}`);
  const name = params.get('name');
  if (name === undefined) throw new MultipartError('A multipart part\'s Content-Disposition has no name.');
  return { name, filename: params.get('filename'), contentType: headers.get('content-type') };
}

/** `; a=b; c="d \" e"` → {a: 'b', c: 'd " e'}, names lower-cased; the first of a repeated name wins. */
function parameters(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const pattern = /;\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
  for (const match of text.matchAll(pattern)) {
    const key = match[1].toLowerCase();
    const raw = match[2].trim();
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    if (!out.has(key)) out.set(key, value);
  }
  return out;
}
