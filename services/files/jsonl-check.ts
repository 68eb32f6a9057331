// Checks a batch input file as its bytes stream past: every line one JSON object (blank lines
// are skipped), UTF-8, at most maxLines requests. Stops at the first problem and remembers it.
export interface JsonlProblem {
  /** 1-based, counting every line of the file. */
  line: number;
  /** Completes "Line N …". */
  reason: string;
}

const newline = 0x0a;
const bom = Buffer.from([0xef, 0xbb, 0xbf]);

export class JsonlCheck {
  /** Non-blank lines seen. */
  requests = 0;
  problem: JsonlProblem | undefined;
  private line = 0;
  private pending: Buffer[] = [];
  private readonly maxLines: number;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(opts: { maxLines: number }) {
    this.maxLines = opts.maxLines;
  }

  push(chunk: Uint8Array): void {
    if (this.problem) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let at = buf.indexOf(newline, start); at >= 0 && !this.problem; at = buf.indexOf(newline, start)) {
      this.pending.push(buf.subarray(start, at));
      this.finishLine();
      start = at + 1;
    }
    if (!this.problem && start < buf.length) this.pending.push(buf.subarray(start));
  }

  /** The end of the file: checks a last line that has no newline after it. */
  end(): void {
    if (this.problem || this.pending.length === 0) return;
    this.finishLine();
  }

  private finishLine(): void {
    this.line++;
    let bytes = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    if (this.line === 1 && bytes.subarray(0, 3).equals(bom)) bytes = bytes.subarray(3);
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      this.problem = { line: this.line, reason: 'is not valid UTF-8' };
      return;
    }
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.problem = { line: this.line, reason: `is not valid JSON (${(err as Error).message})` };
      return;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.problem = { line: this.line, reason: 'is not a JSON object' };
      return;
    }
    this.requests++;
    if (this.requests > this.maxLines) this.problem = { line: this.line, reason: `is past the limit of ${this.maxLines.toLocaleString('en-US')} requests in a batch file` };
  }
}
