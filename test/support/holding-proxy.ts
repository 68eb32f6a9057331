// A TCP proxy that forwards a connection faithfully until it has carried a given byte pattern,
// then holds (never forwards) whatever that connection sends next. Put in front of Redis, it
// freezes a process right after one command: "it crashed before its next write landed".
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface HoldingProxy {
  /** The proxy's address in the target's URL form, e.g. redis://127.0.0.1:PORT. */
  url: string;
  /** Resolves once a connection has carried the pattern; its later writes are held from then on. */
  held: Promise<void>;
  close(): Promise<void>;
}

export async function startHoldingProxy(targetUrl: string, pattern: string): Promise<HoldingProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let resolveHeld = (): void => undefined;
  const held = new Promise<void>((resolve) => (resolveHeld = resolve));
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    sockets.add(client);
    sockets.add(upstream);
    let holding = false;
    client.on('data', (chunk: Buffer) => {
      if (holding) return;
      upstream.write(chunk);
      if (chunk.includes(pattern)) {
        holding = true;
        resolveHeld();
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${target.protocol}//127.0.0.1:${port}`,
    held,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
