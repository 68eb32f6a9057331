// deploy/compose/compose.yaml, as Docker Compose v2 itself reads it: `docker compose config`
// validates it against the Compose specification and resolves anchors and variables, and the
// resolved form is then held against the code (ports, variables, shutdown timing, files.dir).
// The Compose CLI comes from scripts/compose-deps.sh (npm test exports its path as COMPOSE_PATH).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { z } from 'zod';
import { defaultFilesDir, defaultPort, durationMs, inertVariables, probePaths, repoRoot, roleNames, roles, shutdownTiming } from './code-facts.ts';

const composeFile = join(repoRoot, 'deploy/compose/compose.yaml');

const compose = process.env.COMPOSE_PATH || execFileSync(join(repoRoot, 'scripts/compose-deps.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();

/** A shell with none of this machine's settings, so ${VAR:-default} resolves to the defaults. */
function runCompose(file: string, ...args: string[]): ReturnType<typeof spawnSync> {
  return spawnSync(compose, ['-f', file, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmpdir() } });
}

const healthcheckSchema = z.object({ test: z.array(z.string()), interval: z.string(), timeout: z.string(), retries: z.number() });
const serviceSchema = z.object({
  image: z.string(),
  build: z.object({ context: z.string(), dockerfile: z.string() }).optional(),
  command: z.array(z.string()).nullish(),
  environment: z.record(z.string(), z.string().nullable()).default({}),
  depends_on: z.record(z.string(), z.object({ condition: z.string() })).default({}),
  healthcheck: healthcheckSchema.optional(),
  ports: z.array(z.object({ target: z.number(), published: z.string().optional() })).default([]),
  volumes: z.array(z.object({ type: z.string(), source: z.string().optional(), target: z.string() })).default([]),
  stop_grace_period: z.string().optional(),
  stop_signal: z.string().optional(),
});
const projectSchema = z.object({ name: z.string(), services: z.record(z.string(), serviceSchema), volumes: z.record(z.string(), z.unknown()).default({}) });

function resolvedProject(): z.infer<typeof projectSchema> {
  const result = runCompose(composeFile, 'config', '--format', 'json');
  assert.equal(result.status, 0, `docker compose config failed:\n${String(result.stderr)}`);
  return projectSchema.parse(JSON.parse(String(result.stdout)));
}

const project = resolvedProject();
const service = (name: string): z.infer<typeof serviceSchema> => {
  const found = project.services[name];
  assert.ok(found, `no ${name} service`);
  return found;
};

test('docker compose config accepts the file, and refuses a broken one (the check is real)', () => {
  assert.equal(project.name, 'spillway');
  const dir = mkdtempSync(join(tmpdir(), 'spillway-compose-'));
  try {
    // The resolved project is a valid file of its own (JSON is YAML); with one misspelt key it is not.
    const broken = join(dir, 'compose.yaml');
    const resolved = JSON.parse(String(runCompose(composeFile, 'config', '--format', 'json').stdout)) as { services: Record<string, Record<string, unknown>> };
    writeFileSync(join(dir, 'valid.yaml'), JSON.stringify(resolved));
    assert.equal(runCompose(join(dir, 'valid.yaml'), 'config', '--quiet').status, 0, 'the resolved project reads back');
    resolved.services.worker.stop_grace_periode = '15s';
    writeFileSync(broken, JSON.stringify(resolved));
    const result = runCompose(broken, 'config', '--quiet');
    assert.notEqual(result.status, 0, 'an unknown service key must be refused');
    assert.match(String(result.stderr), /stop_grace_periode/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Kafka 3.9 in KRaft mode and Redis 7, each with a healthcheck', () => {
  const kafka = service('kafka');
  assert.match(kafka.image, /^apache\/kafka:3\.9\.\d+$/);
  assert.equal(kafka.environment.KAFKA_PROCESS_ROLES, 'broker,controller', 'a single KRaft node');
  assert.ok(kafka.healthcheck, 'kafka healthcheck');
  const redis = service('redis');
  assert.match(redis.image, /^redis:7(\.|-|$)/);
  assert.ok(redis.healthcheck, 'redis healthcheck');
});

test('ingest, worker and results run their command from the one image, once Kafka and Redis are healthy', () => {
  const images = new Set(roleNames.map((role) => service(role).image));
  assert.equal(images.size, 1, 'one image for the three services');
  for (const role of roleNames) {
    const s = service(role);
    assert.deepEqual(s.command, [role]);
    assert.equal(s.build?.dockerfile, 'deploy/docker/Dockerfile');
    assert.equal(s.build?.context, repoRoot.replace(/\/$/, ''), 'built from the repository root');
    assert.equal(s.depends_on.kafka?.condition, 'service_healthy');
    assert.equal(s.depends_on.redis?.condition, 'service_healthy');
    assert.deepEqual(s.healthcheck?.test, ['CMD', 'node', '/app/deploy/docker/healthcheck.ts', probePaths.readiness], `${role} healthcheck asks for readiness`);
  }
});

test("each service listens on its role's port, and that is the port it publishes", () => {
  for (const role of roleNames) {
    const s = service(role);
    assert.equal(s.environment.PORT, String(defaultPort(role)), `${role} PORT is ${roles[role]}.port's default`);
    for (const port of s.ports) assert.equal(port.target, defaultPort(role), `${role} publishes its own port`);
  }
  assert.equal(service('worker').ports.length, 0, 'the worker publishes nothing, so it can be scaled');
});

test('Kafka and Redis addresses point at the services of this file', () => {
  const advertised = service('kafka').environment.KAFKA_ADVERTISED_LISTENERS ?? '';
  const listeners = advertised.split(',').map((l) => l.replace(/^\w+:\/\//, ''));
  for (const role of roleNames) {
    const env = service(role).environment;
    for (const broker of (env.KAFKA_BROKERS ?? '').split(',')) assert.ok(listeners.includes(broker), `${role}: ${broker} is not an advertised Kafka listener (${advertised})`);
    const redis = new URL(env.REDIS_URL ?? '');
    assert.equal(redis.hostname, 'redis');
    assert.ok(project.services[redis.hostname], 'REDIS_URL names the redis service');
  }
});

test('every environment variable given to a service is one Spillway reads', () => {
  for (const role of roleNames) {
    const names = Object.keys(service(role).environment);
    assert.deepEqual(inertVariables(names, roles[role]), [], `${role}: variables that change nothing`);
  }
});

test('the stop grace period covers the CLI draining work in flight', () => {
  const { exitByMs } = shutdownTiming();
  for (const role of roleNames) {
    const s = service(role);
    assert.equal(s.stop_signal ?? 'SIGTERM', 'SIGTERM');
    const grace = durationMs(s.stop_grace_period ?? '10s');
    assert.ok(grace >= exitByMs, `${role}: stop_grace_period ${grace} ms < ${exitByMs} ms the CLI may take`);
    assert.ok(grace <= exitByMs + 10_000, `${role}: stop_grace_period far past the CLI's own limit`);
  }
});

test('ingest and results share one files volume at files.dir', () => {
  const dockerfile = readFileSync(join(repoRoot, 'deploy/docker/Dockerfile'), 'utf8');
  const workdir = [...dockerfile.matchAll(/^WORKDIR (\S+)$/gm)].at(-1)?.[1] ?? '/';
  const filesDir = posix.resolve(workdir, defaultFilesDir());
  const mounts = ['ingest', 'results'].map((role) => service(role).volumes.find((v) => v.target === filesDir));
  for (const mount of mounts) assert.equal(mount?.type, 'volume', `a named volume at ${filesDir}`);
  assert.equal(mounts[0]?.source, mounts[1]?.source, 'the same volume');
  assert.ok(mounts[0]?.source && mounts[0].source in project.volumes);
});
