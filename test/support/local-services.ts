// Private Kafka/Redis sets for tests that stop, kill or restart a service mid-test. Each set lives
// in its own temp directory (deploy/local/services.sh --dir), so parallel test files never share
// a broker, and a restarted service comes back on the same address with its data.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type LocalService = 'kafka' | 'redis';

export interface LocalServices {
  dir: string;
  /** Throws when the set was started without Kafka. */
  kafkaBrokers: string;
  /** Throws when the set was started without Redis. */
  redisUrl: string;
  /** SIGTERM; data and ports are kept for start(). */
  stop(only?: LocalService): Promise<void>;
  /** SIGKILL, for crash tests; data and ports are kept for start(). */
  kill(only?: LocalService): Promise<void>;
  /** SIGSTOP: the process holds its sockets open but answers nothing, like a hung host. */
  freeze(service: LocalService): Promise<void>;
  /** SIGCONT after freeze(). */
  thaw(service: LocalService): Promise<void>;
  /** Starts again on the same ports and waits until ready. */
  start(only?: LocalService): Promise<void>;
  /** Stops everything and removes the directory; safe to call twice and from after() hooks. */
  clean(): Promise<void>;
}

const script = fileURLToPath(new URL('../../deploy/local/services.sh', import.meta.url));

function runScript(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(script, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`services.sh ${args.join(' ')} failed: ${err.message}\n${stderr}`, { cause: err }));
      } else {
        resolve(stdout);
      }
    });
  });
}

function parseSettings(stdout: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) settings.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return settings;
}

function onlyArgs(only: LocalService | undefined): string[] {
  return only === undefined ? [] : ['--only', only];
}

export async function startLocalServices(opts: { only?: LocalService } = {}): Promise<LocalServices> {
  const dir = await mkdtemp(path.join(tmpdir(), 'spillway-services-'));
  let settings = new Map<string, string>();
  let cleaning: Promise<void> | undefined;

  const setting = (name: string): string => {
    const value = settings.get(name);
    if (value === undefined) throw new Error(`this local services set has no ${name} (dir ${dir})`);
    return value;
  };

  const signal = async (service: LocalService, name: NodeJS.Signals): Promise<void> => {
    const pid = Number((await readFile(path.join(dir, `${service}.pid`), 'utf8')).trim());
    process.kill(pid, name);
  };

  const services: LocalServices = {
    dir,
    get kafkaBrokers() {
      return setting('KAFKA_BROKERS');
    },
    get redisUrl() {
      return setting('REDIS_URL');
    },
    async start(only) {
      // Ports are kept across restarts, so the addresses callers already hold stay valid.
      const fresh = parseSettings(await runScript(['start', '--dir', dir, ...onlyArgs(only)]));
      settings = new Map([...settings, ...fresh]);
    },
    async stop(only) {
      await runScript(['stop', '--dir', dir, ...onlyArgs(only)]);
    },
    async kill(only) {
      await runScript(['kill', '--dir', dir, ...onlyArgs(only)]);
    },
    freeze: (service) => signal(service, 'SIGSTOP'),
    thaw: (service) => signal(service, 'SIGCONT'),
    clean() {
      // One clean per set, however many hooks ask: a test body and its after() hook may both call.
      // A frozen service would not act on the stop signal, so everything is thawed first.
      cleaning ??= Promise.all([signal('kafka', 'SIGCONT'), signal('redis', 'SIGCONT')])
        .catch(() => undefined)
        .then(() => runScript(['clean', '--dir', dir]))
        .then(() => undefined);
      return cleaning;
    },
  };

  try {
    await services.start(opts.only);
  } catch (err) {
    // The caller never gets a handle to clean up a set that failed to start.
    await services.clean().catch(() => undefined);
    throw err;
  }
  return services;
}
