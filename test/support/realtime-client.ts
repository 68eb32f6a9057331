// A test client for the WebSocket endpoint (/v1/realtime): every frame it receives, and a way to
// await the first one that matches.
import WebSocket from 'ws';

export interface Frame {
  type: string;
  ref?: string;
  id?: string;
  seq?: number;
  data?: { choices?: { delta?: { content?: string | null } }[] };
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  status?: number;
  error?: { message: string; code: string | null; type?: string };
}

export class RealtimeClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  private readonly waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}) {
    this.ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers });
    this.ws.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as Frame;
      this.frames.push(frame);
      for (const w of [...this.waiters]) {
        if (!w.match(frame)) continue;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    });
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    // Failed handshakes are asserted through 'unexpected-response' or opened(); never crash the run.
    this.ws.on('error', () => undefined);
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  next(match: (f: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** The text of a request's chunk frames, in order. */
  text(id: string): string {
    return this.frames.filter((f) => f.type === 'chunk' && f.id === id).map((f) => f.data?.choices?.[0]?.delta?.content ?? '').join('');
  }
}
