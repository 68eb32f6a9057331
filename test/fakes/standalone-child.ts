// Runs a fake as its own process, the way the benchmark starts it, for the fakes' standalone tests.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Spawns the fake's script with `--port 0`, reads the `<variable>=<url>` line it prints, runs use
 * with the url, then sends SIGTERM and resolves with the exit code (0 for a clean stop).
 */
export async function withStandalone(script: URL, variable: string, use: (url: string) => Promise<void>): Promise<number | null> {
  const child = spawn(process.execPath, [fileURLToPath(script), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    const lines = createInterface({ input: child.stdout });
    const line = await Promise.race([once(lines, 'line').then(([l]) => String(l)), exited.then(() => undefined)]);
    if (line === undefined) throw new Error(`${fileURLToPath(script)} exited before printing ${variable}`);
    const prefix = `${variable}=`;
    if (!line.startsWith(prefix)) throw new Error(`expected ${prefix}<url>, got: ${line}`);
    await use(line.slice(prefix.length));
  } finally {
    child.kill('SIGTERM');
  }
  const [code] = await exited;
  return code;
}
