// The benchmark's child processes: spawn, wait for the line that says where they listen, read
// their memory from /proc, and stop every one of them however the run ends.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
export const nodeScript = path.join(repoRoot, 'scripts/node.sh');

export interface Child {
  name: string;
  pid: number;
  /** Resolves once the process has exited. */
  exited: Promise<void>;
  stop(): Promise<void>;
}

const live = new Set<Child>();

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Everything the process writes goes here, so a failed start can be diagnosed afterwards. */
  logFile: string;
  /** Waits for a stdout line `NAME=value` and resolves with value. */
  announce?: string;
  startTimeoutMs?: number;
}

/** Starts a process; with `announce`, resolves once it printed `NAME=value`. The exec chain in our scripts keeps the pid the node process's own. */
export async function startChild(opts: SpawnOptions): Promise<{ child: Child; announced: string | undefined }> {
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const proc: ChildProcess = spawn(opts.command, opts.args, {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`${opts.name}: could not start ${opts.command}`);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const child: Child = {
    name: opts.name,
    pid: proc.pid,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      live.delete(child);
    },
  };
  live.add(child);
  proc.stderr?.pipe(log);

  if (opts.announce === undefined) {
    proc.stdout?.pipe(log);
    return { child, announced: undefined };
  }
  const prefix = `${opts.announce}=`;
  try {
    const announced = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => reject(new Error(`${opts.name}: no ${opts.announce} line within ${opts.startTimeoutMs ?? 30_000} ms (log: ${opts.logFile})`)), opts.startTimeoutMs ?? 30_000);
      const onData = (chunk: Buffer): void => {
        log.write(chunk);
        buffered += chunk.toString('utf8');
        for (const line of buffered.split('\n')) {
          if (line.startsWith(prefix)) {
            clearTimeout(timer);
            resolve(line.slice(prefix.length).trim());
          }
        }
      };
      proc.stdout?.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${opts.name}: exited before printing ${opts.announce} (log: ${opts.logFile})`));
      });
    });
    proc.stdout?.removeAllListeners('data');
    proc.stdout?.pipe(log);
    return { child, announced };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

/** Stops every child still running, newest first (the gateway before the upstream it calls). */
export async function stopAll(): Promise<void> {
  const children = [...live].reverse();
  for (const child of children) await child.stop().catch(() => undefined);
}

export function liveChildren(): readonly Child[] {
  return [...live];
}

/** A port that was free a moment ago; for processes that cannot listen on 0 and report back. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls until GET url answers 200; start-up only, never during a measurement. */
export async function waitForOk(url: string, timeoutMs: number, exited?: Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited?.then(() => {
    gone = true;
  });
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (gone) throw new Error(`process behind ${url} exited while starting`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (${last})`);
}

export interface Memory {
  /** Resident set size now, in MB. */
  rssMb: number;
  /** Peak resident set size over the process's life (VmHWM), in MB. */
  hwmMb: number;
}

/** VmRSS and VmHWM from /proc/<pid>/status; undefined when the process is gone. */
export async function readMemory(pid: number): Promise<Memory | undefined> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match === null ? Number.NaN : Number(match[1]) / 1024;
  };
  return { rssMb: kb('VmRSS'), hwmMb: kb('VmHWM') };
}

/** Established TCP connections whose remote end is 127.0.0.1:port: how many upstream calls are open at once. */
export async function establishedTo(port: number): Promise<number> {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string;
    try {
      table = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // fields: sl local_address rem_address st ...; state 01 is ESTABLISHED.
      if (fields.length > 3 && fields[3] === '01' && fields[2].endsWith(`:${portHex}`)) count++;
    }
  }
  return count;
}

/** Memory of each named process now; a process that is gone reads as undefined. */
export async function memoryOf(pids: Record<string, number>): Promise<Record<string, Memory | undefined>> {
  const out: Record<string, Memory | undefined> = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = await readMemory(pid);
  return out;
}
