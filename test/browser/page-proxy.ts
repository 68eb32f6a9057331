// The browser's one origin: serves the test page at / and passes /v1/* through to the gateway
// (same origin, so no CORS). It cuts the first resumable stream (/v1/requests/{id}/stream) after
// a few events by destroying its socket mid-body, as a dropped connection would, and passes
// every later one intact, recording the Last-Event-ID each arrived with.
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StreamSeen {
  /** The Last-Event-ID header the browser sent; undefined on its first connection. */
  lastEventId: string | undefined;
  /** The ids of the events this proxy forwarded to the browser, in order. */
  forwardedIds: number[];
  /** Whether this proxy cut the stream short. */
  cut: boolean;
  /** When the request arrived and when its last event was forwarded (ms since the epoch). */
  openedAt: number;
  lastEventAt: number | undefined;
}

export interface PageProxy {
  url: string;
  /** Every /v1/requests/{id}/stream request, in arrival order. */
  streams: StreamSeen[];
  close(): Promise<void>;
}

export interface PageProxyOptions {
  gatewayUrl: string;
  /** The HTML served at /. */
  page: string;
  /** The first stream is cut once this many events (frames with an id) have been forwarded. */
  cutFirstStreamAfter: number;
}

// Per-connection headers, which the proxy's own connections set for themselves.
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !hopByHop.has(name)));
}

const streamPath = /^\/v1\/requests\/[^/?]+\/stream(\?|$)/;

export async function startPageProxy(opts: PageProxyOptions): Promise<PageProxy> {
  const streams: StreamSeen[] = [];

  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(opts.page);
      return;
    }
    if (!path.startsWith('/v1/')) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    let seen: StreamSeen | undefined;
    if (req.method === 'GET' && streamPath.test(path)) {
      const header = req.headers['last-event-id'];
      seen = { lastEventId: typeof header === 'string' ? header : undefined, forwardedIds: [], cut: false, openedAt: Date.now(), lastEventAt: undefined };
      streams.push(seen);
    }
    const cutAfter = seen !== undefined && streams.length === 1 ? opts.cutFirstStreamAfter : undefined;

    const upstream = request(new URL(path, opts.gatewayUrl), { method: req.method, headers: endToEnd(req.headers), agent: false }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, endToEnd(upRes.headers));
      if (seen === undefined) {
        upRes.pipe(res);
        return;
      }
      relayEvents(upRes, res, seen, cutAfter);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
    // A browser that goes away (an aborted fetch, a cut stream) goes away from the gateway too.
    res.on('close', () => upstream.destroy());
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    streams,
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** Forwards SSE frames whole, noting their ids; with `cutAfter`, destroys the socket once that many are out. */
function relayEvents(upRes: IncomingMessage, res: ServerResponse, seen: StreamSeen, cutAfter: number | undefined): void {
  upRes.setEncoding('utf8');
  let pending = '';
  upRes.on('data', (text: string) => {
    if (seen.cut) return;
    pending += text;
    let out = '';
    let at: number;
    while ((at = pending.indexOf('\n\n')) >= 0) {
      const frame = pending.slice(0, at + 2);
      pending = pending.slice(at + 2);
      out += frame;
      const id = /^id: ?(\d+)$/m.exec(frame)?.[1];
      if (id === undefined) continue;
      seen.forwardedIds.push(Number(id));
      seen.lastEventAt = Date.now();
      if (cutAfter !== undefined && seen.forwardedIds.length >= cutAfter) {
        seen.cut = true;
        res.write(out, () => res.destroy());
        return;
      }
    }
    if (out !== '') res.write(out);
  });
  upRes.on('end', () => {
    if (!seen.cut) res.end(pending);
  });
  upRes.on('error', () => res.destroy());
}
