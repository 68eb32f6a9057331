// deploy/docker/Dockerfile and .dockerignore, read as text: no Docker engine runs here (nor in
// CI), so the image is never built by the tests. What is checked is what a reader of the file can
// see: Node 24 base, multi-stage with production dependencies only, a non-root user, the
// healthcheck, SIGTERM, and that the build context holds every file the image copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix, relative } from 'node:path';
import { defaultFilesDir, defaultPort, repoRoot, roleNames } from './code-facts.ts';

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** The Dockerfile's instructions by stage, line continuations joined, ARG defaults substituted into FROM. */
function parseDockerfile(text: string): { stages: Stage[] } {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: rest.replace(/\s+/g, ' ').trim() };
    if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = instruction.args.split('=');
      args.set(name, value);
      continue;
    }
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.args.split(' ');
      const base = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => args.get(a ?? b ?? '') ?? '');
      stages.push({ base, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${instruction.keyword} before any FROM`);
    stage.instructions.push(instruction);
  }
  return { stages };
}

function all(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

function last(stage: Stage, keyword: string): Instruction {
  const found = all(stage, keyword).at(-1);
  assert.ok(found, `the runtime stage has no ${keyword}`);
  return found;
}

function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  assert.ok(Array.isArray(parsed) && parsed.every((p) => typeof p === 'string'), `not the exec (JSON array) form: ${args}`);
  return parsed as string[];
}

/** COPY's sources and destination, with its flags apart. */
function copyOf(instruction: Instruction): { from: string | undefined; sources: string[]; dest: string } {
  const words = instruction.args.split(' ');
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/** .dockerignore as Docker reads it: the last pattern that matches a path, or one of its parents, decides. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const pattern = posix.normalize((negated ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const source = pattern
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) => ({ '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' })[part] ?? part.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
        .join('');
      return { negated, regex: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const segments = path.split('/');
    const candidates = segments.map((_s, i) => segments.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (candidates.some((c) => rule.regex.test(c))) excluded = !rule.negated;
    return excluded;
  };
}

function filesUnder(path: string): string[] {
  const full = join(repoRoot, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)).split('\\').join('/'));
}

/**
 * Packages the code imports at run time (type-only imports are erased by type stripping), and
 * `#test` for an import of test/, which the image does not hold.
 */
function runtimeImports(file: string): string[] {
  const source = readFileSync(join(repoRoot, file), 'utf8');
  const specifiers = [
    ...[...source.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^'";]*?\bfrom\s+['"]([^'"]+)['"]/gm)].filter((m) => !m[1]).map((m) => m[2]),
    ...[...source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]),
    ...[...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]),
  ];
  return specifiers
    .filter((s) => !s.startsWith('.') && !(s.startsWith('#') && !s.startsWith('#test/')) && !s.startsWith('node:') && !builtinModules.includes(s))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]));
}

const dockerfilePath = 'deploy/docker/Dockerfile';
const { stages } = parseDockerfile(readFileSync(join(repoRoot, dockerfilePath), 'utf8'));
const runtime = stages.at(-1) as Stage;
const ignored = dockerignore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));
const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map(copyOf);
const workdir = last(runtime, 'WORKDIR').args;
/** Where a repository path lands in the image, by the runtime stage's COPY lines. */
function imagePath(repoPath: string): string | undefined {
  for (const copy of copies.filter((c) => c.from === undefined)) {
    for (const source of copy.sources) {
      if (repoPath !== source && !repoPath.startsWith(`${source.replace(/\/$/, '')}/`)) continue;
      const dest = posix.resolve(workdir, copy.dest);
      return copy.sources.length === 1 && !copy.dest.endsWith('/') && repoPath === source ? dest : posix.join(dest, posix.relative(source, repoPath));
    }
  }
  return undefined;
}

test('the image is multi-stage on Node.js 24 and every stage starts from Node 24 or an earlier stage', () => {
  assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
  const names = new Set<string>();
  for (const stage of stages) {
    assert.ok(names.has(stage.base) || /^(docker\.io\/(library\/)?)?node:24(\.|-|$)/.test(stage.base), `FROM ${stage.base} is not Node.js 24`);
    if (stage.name) names.add(stage.name);
  }
});

test('only production dependencies reach the image, installed from the lockfile without install scripts', () => {
  const install = stages.flatMap((s) => all(s, 'RUN')).filter((r) => /\bnpm (ci|install)\b/.test(r.args));
  assert.equal(install.length, 1, 'one npm install');
  assert.match(install[0].args, /\bnpm ci\b/);
  assert.match(install[0].args, /--omit=dev\b/);
  assert.match(install[0].args, /--ignore-scripts\b/);
  // --ignore-scripts holds only while no production package has an install script to run.
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }> };
  const scripted = Object.entries(lock.packages).filter(([path, p]) => path !== '' && !p.dev && p.hasInstallScript).map(([path]) => path);
  assert.deepEqual(scripted, [], 'production packages with install scripts, which the image build skips');
  const modules = copies.find((c) => c.sources.some((s) => /node_modules\/?$/.test(s)));
  assert.ok(modules?.from, 'node_modules comes from the install stage');
  // Type stripping runs the sources: there is no compile step and nothing from a dev dependency.
  for (const run of stages.flatMap((s) => all(s, 'RUN'))) assert.doesNotMatch(run.args, /\btsc\b|npm run build/);
});

test('the runtime imports only packages listed in dependencies, which is all the image installs', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const shipped = copies.filter((c) => c.from === undefined).flatMap((c) => c.sources.flatMap(filesUnder));
  const code = shipped.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !ignored(f));
  assert.ok(code.includes('bin/cli.ts'));
  const missing = code.flatMap((f) => runtimeImports(f).filter((p) => !(p in pkg.dependencies)).map((p) => `${f} imports ${p}`));
  assert.deepEqual(missing, [], 'imported at run time but not a production dependency');
});

test('the service runs as a non-root user that owns only the files directory', () => {
  const user = last(runtime, 'USER').args;
  const [uid, gid = uid] = user.split(':');
  assert.match(uid, /^\d+$/, 'numeric, so Kubernetes runAsNonRoot can check it');
  assert.notEqual(Number(uid), 0);
  assert.notEqual(Number(gid), 0);
  const filesDir = posix.resolve(workdir, defaultFilesDir());
  const setup = all(runtime, 'RUN').map((r) => r.args).join(' && ');
  assert.ok(setup.includes(`mkdir -p ${filesDir}`), `creates files.dir's default, ${filesDir}, for a volume to be mounted on`);
  assert.match(setup, new RegExp(`chown -R ${uid}:${gid} ${posix.dirname(filesDir)}`));
});

test('it runs the CLI with Node directly, on SIGTERM, with a healthcheck that is in the image', () => {
  const entrypoint = execForm(last(runtime, 'ENTRYPOINT').args);
  assert.equal(entrypoint[0], 'node');
  assert.equal(posix.resolve(workdir, entrypoint.at(-1) ?? ''), imagePath('bin/cli.ts'), 'ENTRYPOINT runs the copied bin/cli.ts');
  assert.deepEqual(execForm(last(runtime, 'CMD').args), ['start']);
  assert.equal(last(runtime, 'STOPSIGNAL').args, 'SIGTERM');

  const healthcheck = last(runtime, 'HEALTHCHECK').args;
  const [, options = '', command = ''] = /^(.*?)CMD (\[.*\])$/.exec(healthcheck) ?? [];
  const argv = execForm(command);
  assert.equal(argv[0], 'node');
  assert.equal(argv[1], imagePath('deploy/docker/healthcheck.ts'), 'HEALTHCHECK runs the copied deploy/docker/healthcheck.ts');
  for (const flag of ['--interval', '--timeout', '--start-period', '--retries']) assert.ok(options.includes(flag), `HEALTHCHECK sets ${flag}`);

  const exposed = last(runtime, 'EXPOSE').args.split(' ').map(Number).sort();
  assert.deepEqual(exposed, roleNames.map(defaultPort).sort());
});

test('.dockerignore lets in every file the image copies, and nothing else of the repository', () => {
  const sources = copies.filter((c) => c.from === undefined).flatMap((c) => c.sources);
  for (const source of sources) assert.ok(existsSync(join(repoRoot, source)), `COPY ${source}: no such file`);
  const wanted = sources.flatMap(filesUnder).filter((f) => !f.endsWith('.test.ts') && !f.endsWith('README.md'));
  assert.deepEqual(wanted.filter(ignored), [], 'copied by the Dockerfile but left out of the build context');
  const unwanted = ['libs/config/load.test.ts', 'node_modules/zod/package.json', '.cache/x', '.tools/x', '.git/HEAD', 'test/e2e/x.ts', 'bin/spillway', 'deploy/k8s/worker.yaml', 'data/files/x', 'README.md'];
  assert.deepEqual(unwanted.filter((f) => !ignored(f)), [], 'sent to the build context but never copied');
});
