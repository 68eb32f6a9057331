// The commands the image, compose and Kubernetes run: each role listens on PORT, answers the
// probe paths the artefacts name, passes the image's healthcheck, and leaves on SIGTERM within
// the time the artefacts give it. Run embedded (no Kafka, no Redis): the same CLI and HTTP front.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { defaultPorts } from './docker/healthcheck.ts';
import { defaultPort, probePaths, repoRoot, roleNames, shutdownTiming } from './code-facts.ts';

const node = process.execPath;
const healthcheck = 'deploy/docker/healthcheck.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function run(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(node, args, { cwd: repoRoot, env, stdio: ['ignore', 'ignore', 'pipe'] });
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

async function healthcheckExit(env: NodeJS.ProcessEnv, path?: string): Promise<number | null> {
  return exitCode(run([healthcheck, ...(path ? [path] : [])], env));
}

/** The environment of a container: nothing of this machine's Kafka, Redis or provider keys. */
function containerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...extra };
}

async function waitForHealth(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before listening:\n${stderr()}`);
    const ok = await fetch(`http://127.0.0.1:${port}${probePaths.liveness}`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no answer on port ${port} within 60 s:\n${stderr()}`);
}

test("the healthcheck's default ports are the three services' default ports", () => {
  assert.deepEqual([...defaultPorts].sort(), roleNames.map(defaultPort).sort());
});

test('the healthcheck passes on a 200 and fails on a 503 or on nothing listening', async () => {
  const server: Server = createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? 200 : 503;
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    assert.equal(await healthcheckExit(containerEnv({ PORT: String(port) })), 0);
    assert.equal(await healthcheckExit(containerEnv({ PORT: String(port) }), '/readyz'), 1);
  } finally {
    server.close();
  }
  assert.equal(await healthcheckExit(containerEnv({ PORT: String(await freePort()) })), 1);
});

for (const role of roleNames) {
  test(`spillway ${role} listens on PORT, answers the probes and the healthcheck, and stops on SIGTERM in time`, async () => {
    const port = await freePort();
    const env = containerEnv({ PORT: String(port) });
    const child = run(['--disable-warning=TimeoutNegativeWarning', 'bin/cli.ts', role], env);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await waitForHealth(port, child, () => stderr);
      for (const path of Object.values(probePaths)) {
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        assert.equal(response.status, 200, `${role} ${path}`);
      }
      assert.equal(await healthcheckExit(env), 0, 'the image HEALTHCHECK (liveness)');
      assert.equal(await healthcheckExit(env, probePaths.readiness), 0, 'the compose healthcheck (readiness)');
      const started = Date.now();
      child.kill('SIGTERM');
      assert.equal(await exitCode(child), 0, `exit code after SIGTERM:\n${stderr}`);
      assert.ok(Date.now() - started <= shutdownTiming().exitByMs, 'left within the time the artefacts give it');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
}
