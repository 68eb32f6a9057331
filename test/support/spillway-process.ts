// Runs the spillway command as a separate process, as a user (or a crash test) would.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/spillway', import.meta.url));

export interface SpillwayProcess {
  child: ChildProcess;
  /** Every line it wrote, stdout and stderr. */
  output: string[];
  /** Resolves with the first line matching, as soon as it is written. */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  /** SIGTERM (or the given signal) and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export const listeningLine = /listening on http:\/\/[^:]+:(\d+)/;

export function runSpillway(args: string[], env: NodeJS.ProcessEnv = {}): SpillwayProcess {
  // Processes run open (explicitly: auth is on by default with Kafka) unless a test sets auth itself.
  const child = spawn(bin, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', SPILLWAY_AUTH_ENABLED: 'false', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const watchers: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (data: Buffer): void => {
    for (const l of data.toString('utf8').split('\n').filter(Boolean)) {
      output.push(l);
      for (const w of [...watchers]) {
        const m = l.match(w.pattern);
        if (m) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output,
    exited,
    line(pattern) {
      const found = output.map((l) => l.match(pattern)).find(Boolean);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        watchers.push({ pattern, resolve });
        void exited.then((code) => reject(new Error(`exited ${code} before printing ${pattern}:\n${output.join('\n')}`)));
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Starts a spillway process on a free port and resolves with it and its port once it listens. */
export async function startSpillway(command: string, env: NodeJS.ProcessEnv = {}): Promise<SpillwayProcess & { port: number }> {
  const p = runSpillway([command, '--port', '0', '--host', '127.0.0.1'], env);
  const [, port] = await p.line(listeningLine);
  return Object.assign(p, { port: Number(port) });
}
