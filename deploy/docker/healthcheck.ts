// The container's health probe (Dockerfile HEALTHCHECK, compose healthchecks): asks the one
// Spillway service in this container for /healthz, or the path given, and exits 0 when it is 200.
// Without PORT it tries each service's default port, so `docker run <image> worker` is healthy too.
import { fileURLToPath } from 'node:url';

/** server.port, results.port and worker.port defaults (deploy/service-commands.test.ts keeps them equal). */
export const defaultPorts = [8080, 8081, 8082];

const timeoutMs = 2_000;

async function answers(port: number, path: string): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const path = process.argv[2] ?? '/healthz';
  const ports = process.env.PORT ? [Number(process.env.PORT)] : defaultPorts;
  for (const port of ports) if (await answers(port, path)) return 0;
  process.stderr.write(`healthcheck: no 200 from ${path} on port ${ports.join(', ')}\n`);
  return 1;
}

// import.meta.main is Node 24.2+; on an older 24 the script compares its own path, so the probe
// never passes by not running.
const isMain = import.meta.main ?? process.argv[1] === fileURLToPath(import.meta.url);
if (isMain) process.exitCode = await main();
