// spillway <command>: start (all-in-one), ingest, worker, results, topics, config.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type PortSection } from '#libs/config/load.ts';
import type { Config } from '#libs/config/schema.ts';
import { createLogger } from '#libs/telemetry/logger.ts';
import { startTracingFromEnv } from '#libs/telemetry/tracing-settings.ts';
import { closeRuntime, createRuntime } from '#libs/runtime/runtime.ts';
import { startGateway, type Role } from '#services/gateway.ts';

/** How long SIGTERM lets work in flight finish (match the orchestrator's termination grace). */
const shutdownGraceMs = 10_000;

const commonOptions = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Command {
  summary: string;
  roles?: Role[];
  /** The config section whose port it listens on; PORT sets that one, --port overrides both. */
  listensOn?: PortSection;
  details: string;
}

const commands: Record<string, Command> = {
  start: {
    summary: 'run ingest, worker and results in one process on one port',
    roles: ['ingest', 'worker', 'results'],
    listensOn: 'server',
    details: 'With no KAFKA_BROKERS and REDIS_URL it runs on the in-memory bus and store (nothing durable).',
  },
  ingest: { summary: 'run the client-facing API that accepts requests', roles: ['ingest'], listensOn: 'server', details: 'Serves /v1/chat/completions and /v1/models.' },
  worker: { summary: 'run a worker that executes requests', roles: ['worker'], listensOn: 'worker', details: 'Serves only /healthz, /readyz and /metrics.' },
  results: { summary: 'run the read side: results record and lookup', roles: ['results'], listensOn: 'results', details: 'Serves GET /v1/requests/{id}.' },
  topics: { summary: 'create the Kafka topics and exit', details: 'Services create their topics at start-up too; this is for deploy pipelines.' },
  config: { summary: 'validate the configuration and print it with secrets hidden', details: '' },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return `Usage: spillway <command> [--config FILE] [--port N] [--host ADDR]

Commands:
${lines.join('\n')}

Configuration: --config or SPILLWAY_CONFIG names a spillway.yaml; without one, PORT, KAFKA_BROKERS,
REDIS_URL and provider keys (OPENAI_API_KEY, GROQ_API_KEY, ...) come from the environment.
PORT is the port of the service the command runs (server.port, worker.port or results.port).
Run 'spillway <command> --help' for one command.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`spillway: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const { values } = parseArgs({ args: rest, options: commonOptions, strict: true });
  if (values.help) {
    process.stdout.write(`Usage: spillway ${name} [--config FILE] [--port N] [--host ADDR]\n\n${command.summary}.\n${command.details}\n`);
    return 0;
  }

  const config = loadConfig({ path: values.config, portOf: command.listensOn });
  const logger = createLogger();

  if (name === 'config') {
    process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
    return 0;
  }
  if (name === 'topics') {
    const runtime = await createRuntime(config, logger);
    await closeRuntime(runtime);
    process.stdout.write(runtime.embedded ? 'No Kafka configured: nothing to create.\n' : `Topics ready on ${config.kafka.brokers.join(',')}.\n`);
    return 0;
  }

  const port = values.port !== undefined ? Number(values.port) : config[command.listensOn ?? 'server'].port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port: '${values.port}' is not a port number`);
  // OpenTelemetry, when the OTEL_* variables ask for it: service.name spillway-<role> by default.
  const tracing = await startTracingFromEnv(name === 'start' ? 'gateway' : name, logger);
  const gateway = await startGateway({ config, logger, roles: command.roles ?? [], port, host: values.host }).catch(async (err: unknown) => {
    await tracing?.shutdown();
    throw err;
  });
  banner(name, gateway.runtime.embedded, gateway.runtime.auth.enabled, gateway.runtime.registry.mockOnly, config, gateway.port, logger);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: shutdownGraceMs }, 'shutting down: finishing work in flight');
    // Connections to a broker that is away can take long to tear down; past the grace period the
    // process goes anyway: unfinished work is uncommitted and will be redelivered.
    setTimeout(() => {
      logger.warn('shutdown went past the grace period; exiting, unfinished work will be redelivered');
      process.exit(0);
    }, shutdownGraceMs + 1_000).unref();
    gateway
      .close(shutdownGraceMs)
      // Spans still buffered are exported before the process goes (within the same deadline).
      .finally(() => tracing?.shutdown().catch((err: unknown) => logger.warn({ err }, 'could not export the last spans')))
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}

function banner(name: string, embedded: boolean, authOn: boolean, mockOnly: boolean, config: Config, port: number, logger: ReturnType<typeof createLogger>): void {
  const host = config.server.host === '0.0.0.0' ? 'localhost' : config.server.host;
  const lines = [`Spillway ${name} listening on http://${host}:${port} (config: ${'source' in config ? String(config.source) : 'environment'})`];
  if (embedded) lines.push('EMBEDDED MODE: in-memory bus and store. Nothing is durable; a restart loses every request in flight. Set KAFKA_BROKERS and REDIS_URL for production.');
  else lines.push(`Kafka: ${config.kafka.brokers.join(',')}  Redis: ${redactUrl(config.redis.url ?? '')}  prefix: ${config.prefix}`);
  if (!authOn && name !== 'worker') {
    lines.push(
      config.auth.enabled === false
        ? 'AUTHENTICATION IS OFF (auth.enabled: false): anyone who can reach this port may use it, with no rate limits or budgets.'
        : 'AUTHENTICATION IS OFF: the embedded default runs open while no keys are configured. Add auth.keys (or SPILLWAY_API_KEYS) or admin.key to turn it on.',
    );
  }
  if (mockOnly) lines.push('No provider keys found: the built-in mock provider answers every model. Set OPENAI_API_KEY (or a config file) to reach a real provider.');
  for (const line of lines) logger.warn(line);
  if (process.stderr.isTTY) process.stderr.write(`\n${lines.map((l) => `  ${l}`).join('\n')}\n\n`);
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//[redacted]@');
}

/** Fields that hold a secret or a key's digest; provider `headers` may carry credentials too. */
const secretFields = new Set(['key', 'keyHash', 'secret', 'secretAccessKey', 'sessionToken', 'accessToken', 'headers']);

function redactConfig(config: Config): unknown {
  return JSON.parse(JSON.stringify(config, (key, value: unknown) => (secretFields.has(key) ? '[redacted]' : key === 'url' && typeof value === 'string' ? redactUrl(value) : value)));
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof ConfigError || (err instanceof Error && err.name === 'TypeError' && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`spillway: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`spillway: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
