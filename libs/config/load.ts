// Loads spillway.yaml (or the environment alone), resolves ${ENV} references and validates.
// A bad file fails start-up with the file and the key path in the message.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { providersFromEnv } from './env-providers.ts';

export class ConfigError extends Error {}

export interface LoadOptions {
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Values applied over the file, for tests and flags. */
  overrides?: (raw: Record<string, unknown>) => void;
  /** The section whose `port` PORT sets: that of the one service the command runs (default server). */
  portOf?: PortSection;
}

/** The sections with a listening port: ingest and `start` listen on server.port. */
export type PortSection = 'server' | 'worker' | 'results';

export function loadConfig(opts: LoadOptions = {}): Config & { source: string } {
  const env = opts.env ?? process.env;
  const path = opts.path ?? env.SPILLWAY_CONFIG;
  let raw: Record<string, unknown> = {};
  const source = path ?? 'environment';
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`${path}: invalid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`${path}: the top level must be a mapping of keys`);
    }
    raw = (parsed as Record<string, unknown> | null) ?? {};
    raw = interpolate(raw, env, path, []) as Record<string, unknown>;
  }

  applyEnv(raw, env, opts.portOf ?? 'server');
  opts.overrides?.(raw);

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${formatPath(issue.path)}: ${issue.message}`);
    throw new ConfigError(`${source}: invalid configuration\n${lines.join('\n')}`);
  }
  return { ...result.data, source };
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, portOf: PortSection): void {
  const section = (name: string): Record<string, unknown> => {
    const existing = raw[name];
    if (existing && typeof existing === 'object' && !Array.isArray(existing)) return existing as Record<string, unknown>;
    const created: Record<string, unknown> = {};
    raw[name] = created;
    return created;
  };
  if (env.PORT) section(portOf).port = parsePort(env.PORT, 'PORT');
  if (env.KAFKA_BROKERS) section('kafka').brokers = env.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter(Boolean);
  if (env.REDIS_URL) section('redis').url = env.REDIS_URL;
  if (env.SPILLWAY_PREFIX) raw.prefix = env.SPILLWAY_PREFIX;
  if (env.SPILLWAY_WEBHOOK_SECRET) section('webhooks').secret = env.SPILLWAY_WEBHOOK_SECRET;
  if (env.SPILLWAY_ADMIN_KEY) section('admin').key = env.SPILLWAY_ADMIN_KEY;
  if (env.SPILLWAY_MOCK_LATENCY_MS) section('mock').latencyMs = parseNonNegative(env.SPILLWAY_MOCK_LATENCY_MS, 'SPILLWAY_MOCK_LATENCY_MS');
  if (env.SPILLWAY_MOCK_TOKENS_PER_SECOND) section('mock').tokensPerSecond = parseNonNegative(env.SPILLWAY_MOCK_TOKENS_PER_SECOND, 'SPILLWAY_MOCK_TOKENS_PER_SECOND');
  if (env.SPILLWAY_AUTH_ENABLED) section('auth').enabled = env.SPILLWAY_AUTH_ENABLED;
  if (env.SPILLWAY_API_KEYS) section('auth').keys = env.SPILLWAY_API_KEYS.split(',').map((key) => key.trim()).filter(Boolean).map((key) => ({ key }));
  if (raw.providers === undefined || raw.providers === null) {
    const fromEnv = providersFromEnv(env);
    if (Object.keys(fromEnv).length > 0) raw.providers = fromEnv;
  }
}

function parsePort(value: string, name: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`${name}: "${value}" is not a port number`);
  return port;
}

function parseNonNegative(value: string, name: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new ConfigError(`${name}: "${value}" is not a number of 0 or more`);
  return n;
}

const envRef = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function interpolate(value: unknown, env: NodeJS.ProcessEnv, file: string, path: (string | number)[]): unknown {
  if (typeof value === 'string') {
    return value.replace(envRef, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${file}: ${formatPath(path)}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, env, file, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, file, [...path, k])]));
  }
  return value;
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

export type { Config };
export { z };
