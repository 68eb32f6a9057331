// A plain HTTP client for chat completions in fault tests: sync requests with their timing, and
// streams read event by event, so a test can act mid-stream and see exactly how a stream ended.

export interface ChatOptions {
  headers?: Record<string, string>;
  /** The client gives up (and the test fails) after this long; a hung request never hangs the test. */
  clientTimeoutMs?: number;
}

export interface SyncAnswer {
  status: number;
  headers: Headers;
  body: unknown;
  /** choices[0].message.content of a 200, else undefined. */
  content: string | undefined;
  /** The completion's id (the upstream's, chatcmpl-…) of a 200, else undefined. */
  completionId: string | undefined;
  /** error.code of an error answer, else undefined. */
  errorCode: string | undefined;
  requestId: string | null;
  elapsedMs: number;
}

const chatBody = (content: string, stream: boolean): string =>
  JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content }], ...(stream ? { stream: true } : {}) });

export async function sendChat(baseUrl: string, content: string, opts: ChatOptions = {}): Promise<SyncAnswer> {
  const started = Date.now();
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
    body: chatBody(content, false),
    signal: AbortSignal.timeout(opts.clientTimeoutMs ?? 60_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Kept as text: the assertion on it will show what came.
  }
  return {
    status: res.status,
    headers: res.headers,
    body,
    content: res.status === 200 ? messageContent(body) : undefined,
    completionId: res.status === 200 ? completionId(body) : undefined,
    errorCode: errorCode(body),
    requestId: res.headers.get('x-request-id'),
    elapsedMs: Date.now() - started,
  };
}

function messageContent(body: unknown): string | undefined {
  const choices = (body as { choices?: { message?: { content?: unknown } }[] } | null)?.choices;
  const content = Array.isArray(choices) ? choices[0]?.message?.content : undefined;
  return typeof content === 'string' ? content : undefined;
}

function completionId(body: unknown): string | undefined {
  const id = (body as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : undefined;
}

/** What the client got, in the form answerOf gives a recorded result, to compare the two. */
export function syncAnswerOf(a: SyncAnswer): string {
  return a.status === 200 ? `succeeded ${String(a.completionId)} ${String(a.content)}` : `failed ${a.status} ${a.errorCode ?? ''}`;
}

function errorCode(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  return typeof code === 'string' ? code : undefined;
}

/** How a stream ended: [DONE], an error event, or neither (the connection just closed). */
export type StreamEnd = { kind: 'done' } | { kind: 'error'; error: unknown } | { kind: 'cut'; reason: string };

export interface StreamReading {
  status: number;
  requestId: string | null;
  /** The content of every delta read so far, concatenated. */
  text(): string;
  /** The id the stream's chunks carry (chatcmpl-…), once one has been read. */
  completionId(): string | undefined;
  /** Resolves once at least n content deltas have been read. */
  waitForDeltas(n: number): Promise<void>;
  ended: Promise<StreamEnd>;
  /** Events that came after [DONE] or an error event: a broken stream has some. */
  afterEnd: string[];
  elapsedMs(): number;
}

export async function openStream(baseUrl: string, content: string, opts: ChatOptions = {}): Promise<StreamReading> {
  const started = Date.now();
  let endedAt: number | undefined;
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
    body: chatBody(content, true),
    signal: AbortSignal.timeout(opts.clientTimeoutMs ?? 60_000),
  });
  let text = '';
  let id: string | undefined;
  let deltas = 0;
  let end: StreamEnd | undefined;
  const afterEnd: string[] = [];
  const waiters: { n: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  const wake = (): void => {
    for (const w of [...waiters]) {
      if (deltas >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      } else if (end) {
        waiters.splice(waiters.indexOf(w), 1);
        w.reject(new Error(`the stream ended (${end.kind}) after ${deltas} deltas, before ${w.n}`));
      }
    }
  };
  const onData = (data: string): void => {
    if (end) {
      afterEnd.push(data);
      return;
    }
    if (data === '[DONE]') {
      end = { kind: 'done' };
      return;
    }
    const event = JSON.parse(data) as { id?: unknown; error?: unknown; choices?: { delta?: { content?: unknown } }[] };
    if (typeof event.id === 'string') id ??= event.id;
    if (event.error !== undefined) {
      end = { kind: 'error', error: event.error };
      return;
    }
    const piece = event.choices?.[0]?.delta?.content;
    if (typeof piece === 'string' && piece !== '') {
      text += piece;
      deltas++;
    }
  };
  const ended = (async (): Promise<StreamEnd> => {
    if (res.status !== 200 || !res.body) {
      const body = await res.text();
      end = { kind: 'error', error: body };
      return end;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          for (const line of frame.split('\n')) if (line.startsWith('data: ')) onData(line.slice(6));
        }
        wake();
      }
    } catch (err) {
      end ??= { kind: 'cut', reason: `read failed: ${(err as Error).message}` };
    }
    if (buffer.trim() !== '') afterEnd.push(buffer);
    end ??= { kind: 'cut', reason: 'the connection closed with neither [DONE] nor an error event' };
    return end;
  })().finally(() => {
    endedAt = Date.now();
    wake();
  });
  return {
    status: res.status,
    requestId: res.headers.get('x-request-id'),
    text: () => text,
    completionId: () => id,
    waitForDeltas(n) {
      if (deltas >= n) return Promise.resolve();
      if (end) return Promise.reject(new Error(`the stream ended (${end.kind}) after ${deltas} deltas, before ${n}`));
      return new Promise((resolve, reject) => waiters.push({ n, resolve, reject }));
    },
    ended,
    afterEnd,
    elapsedMs: () => (endedAt ?? Date.now()) - started,
  };
}

/** Answers counted by status and error code (`200`, `503 bus_unavailable`), for a test's diagnostics. */
export function tally(answers: SyncAnswer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const key = a.errorCode ? `${a.status} ${a.errorCode}` : String(a.status);
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}
