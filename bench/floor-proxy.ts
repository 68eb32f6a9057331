// The floor: the least a Node gateway can do — node:http in, an undici pool out, bytes piped both
// ways with no parsing. Whatever Spillway adds above this is Spillway's own cost.
// Standalone: `scripts/node.sh bench/floor-proxy.ts --upstream http://127.0.0.1:PORT [--port 0]`
// prints `FLOOR_URL=http://127.0.0.1:<port>` and serves until SIGTERM or SIGINT.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';

export interface FloorProxy {
  url: string;
  close(): Promise<void>;
}

// Headers that describe one hop's connection, not the message; a proxy must not forward them.
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);

function requestHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name)) out[name] = value;
  }
  return out;
}

function responseHeaders(headers: Dispatcher.ResponseData['headers']): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name)) out[name] = value;
  }
  return out;
}

export async function startFloorProxy(opts: { upstream: string; port?: number; host?: string }): Promise<FloorProxy> {
  const origin = new URL(opts.upstream).origin;
  // No connection cap: the floor should never queue where a real upstream would not.
  const pool = new Pool(origin, { connections: null, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });

  const server: Server = createServer((req, res) => {
    const method = (req.method ?? 'GET') as Dispatcher.HttpMethod;
    const hasBody = method !== 'GET' && method !== 'HEAD';
    pool.stream(
      { path: req.url ?? '/', method, headers: requestHeaders(req.headers), body: hasBody ? req : null },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, responseHeaders(headers));
        return res;
      },
      (err) => {
        if (err === null) return;
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: `floor proxy: ${err.message}`, type: 'proxy_error', param: null, code: null } }));
        } else {
          res.destroy(err);
        }
      },
    );
  });
  server.keepAliveTimeout = 30_000;
  // Thousands of concurrent slow requests are the point of one scenario; the default caps are lower.
  server.maxHeadersCount = 0;
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      upstream: { type: 'string' },
      port: { type: 'string', default: '0' },
    },
  });
  if (values.upstream === undefined) {
    process.stderr.write('floor-proxy: --upstream URL is required\n');
    process.exit(2);
  }
  const floor = await startFloorProxy({ upstream: values.upstream, port: Number(values.port) });
  process.stdout.write(`FLOOR_URL=${floor.url}\n`);
  const stop = (): void => {
    floor.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.main) await main();
