// deploy/k8s: every object of the kustomization (and the example Secret) is validated offline
// against the Kubernetes and KEDA schemas that the kubernetes-models packages carry, twice: their
// JSON Schema validators (types, required fields, formats) and their TypeScript types (which also
// refuse unknown fields, as the API server's strict validation does). Then the objects are held
// against the code: ports, probes, variables, shutdown timing, files.dir, topics and groups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { loadConfig } from '#libs/config/load.ts';
import { groupIds, topicNames } from '#libs/bus/topics.ts';
import { inertVariables, probePaths, repoRoot, roleNames, roles, shutdownTiming, workerSubscriptions, type RoleName } from './code-facts.ts';

const dir = join(repoRoot, 'deploy/k8s');

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  /** The object as parsed; its shape is what the tests below validate. */
  doc: unknown;
}

function readManifests(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((document, i) => {
    assert.deepEqual(document.errors, [], `${file} document ${i + 1} is not valid YAML`);
    const doc = document.toJS() as Record<string, unknown>;
    const metadata = doc.metadata as { name?: unknown } | undefined;
    assert.ok(typeof doc.apiVersion === 'string' && typeof doc.kind === 'string' && typeof metadata?.name === 'string', `${file} document ${i + 1} lacks apiVersion, kind or metadata.name`);
    return { file, apiVersion: doc.apiVersion, kind: doc.kind, metadata: { name: metadata.name }, doc };
  });
}

const kustomization = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[]; images?: { name: string }[]; namespace?: string };
const applied = kustomization.resources.flatMap(readManifests);
const exampleSecret = readManifests('secret.example.yaml');
const everything = [...applied, ...exampleSecret];

function objects<T>(kind: string): T[] {
  return applied.filter((m) => m.kind === kind).map((m) => m.doc as T);
}
function named<T>(kind: string, name: string): T {
  const found = applied.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `no ${kind} ${name}`);
  return found.doc as T;
}

/** The module of kubernetes-models (or its KEDA package) that holds an object's model. */
function modelModule(m: Manifest): string {
  return m.apiVersion.startsWith('keda.sh/') ? `@kubernetes-models/keda/${m.apiVersion}/${m.kind}` : `kubernetes-models/${m.apiVersion}/${m.kind}`;
}

const deployments = objects<IDeployment>('Deployment');
function deploymentOf(role: RoleName): { deployment: IDeployment; container: IContainer } {
  const matching = deployments.filter((d) => d.spec?.template.spec?.containers.some((c) => c.args?.[0] === role));
  assert.equal(matching.length, 1, `one Deployment runs spillway ${role}`);
  const container = matching[0].spec?.template.spec?.containers[0];
  assert.ok(container);
  return { deployment: matching[0], container };
}
function podLabels(d: IDeployment): Record<string, string> {
  return d.spec?.template.metadata?.labels ?? {};
}
function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}
function envValue(container: IContainer, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}
function containerPort(container: IContainer, port: number | string | undefined): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
}
/** A Kubernetes quantity as a number (cpu in cores, memory in bytes). */
function quantity(value: string | number | undefined): number {
  const text = String(value);
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G)?$/.exec(text);
  assert.ok(match, `not a quantity: ${text}`);
  const unit: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9 };
  return Number(match[1]) * (match[2] ? unit[match[2]] : 1);
}

const spillwayYaml = named<IConfigMap>('ConfigMap', 'spillway-config').data?.['spillway.yaml'];
const envConfigMap = named<IConfigMap>('ConfigMap', 'spillway-env').data ?? {};
const secretExample = exampleSecret[0].doc as ISecret;

/** Runs `check` with the ConfigMap's spillway.yaml written where SPILLWAY_CONFIG can name it. */
function withConfigFile<T>(check: (path: string) => T): T {
  assert.ok(spillwayYaml, 'spillway-config has spillway.yaml');
  const tmp = mkdtempSync(join(tmpdir(), 'spillway-k8s-'));
  try {
    const path = join(tmp, 'spillway.yaml');
    writeFileSync(path, spillwayYaml);
    return check(path);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The configuration a role's pod starts with: its env, spillway-env, the example Secret, the mounted file. */
function podConfig(role: RoleName, configPath: string): ReturnType<typeof loadConfig> {
  const { container } = deploymentOf(role);
  const env: NodeJS.ProcessEnv = { ...envConfigMap, ...secretExample.stringData };
  for (const e of container.env ?? []) env[e.name] = e.value;
  env.SPILLWAY_CONFIG = configPath;
  return loadConfig({ env, portOf: roles[role] });
}

test('the kustomization lists every manifest of deploy/k8s, and each parses', () => {
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml' && !f.includes('.example.'));
  assert.deepEqual([...kustomization.resources].sort(), files.sort());
  const names = new Set(everything.map((m) => `${m.kind}/${m.metadata.name}`));
  assert.equal(names.size, everything.length, 'no object is declared twice');
});

test('every object passes the Kubernetes / KEDA JSON Schema validation of kubernetes-models', async () => {
  for (const m of everything) {
    const module = (await import(modelModule(m)).catch(() => assert.fail(`${m.file}: no schema for ${m.apiVersion} ${m.kind}`))) as Record<string, new (data: unknown) => { validate(): void }>;
    const Model = module[m.kind];
    assert.ok(Model, `${modelModule(m)} exports no ${m.kind}`);
    assert.doesNotThrow(() => new Model(m.doc).validate(), `${m.file}: ${m.kind} ${m.metadata.name}`);
  }
});

test('no object has a field its schema does not know (strict, by the TypeScript types of kubernetes-models)', () => {
  // JSON Schema validation lets unknown fields through (a misspelt readinesProbe would just be
  // ignored by the cluster); an object literal typed by the model's interface does not.
  const file = join(repoRoot, 'deploy', '__k8s_manifests__.ts');
  const imports = new Map<string, string>();
  const lines = everything.map((m, i) => {
    imports.set(`I${m.kind}`, modelModule(m));
    return `export const object${i}: I${m.kind} = ${JSON.stringify(m.doc)};`;
  });
  const source = [...[...imports].map(([name, from]) => `import type { ${name} } from '${from}';`), ...lines].join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2024, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile.call(host, name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram([file], options, host)).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const m = everything[line - imports.size];
    return `${m ? `${m.file} ${m.kind} ${m.metadata.name}` : 'import'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
  assert.deepEqual(diagnostics, []);
});

test('every container image is the one the kustomization sets, so `images:` retags all three', () => {
  const images = new Set(kustomization.images?.map((i) => i.name));
  for (const d of deployments) for (const c of d.spec?.template.spec?.containers ?? []) assert.ok(images.has(c.image ?? ''), `${c.name}: image ${c.image}`);
});

test('each role listens on the port its container declares, with readiness on /readyz and liveness on /healthz', () => {
  withConfigFile((path) => {
    for (const role of roleNames) {
      const { container } = deploymentOf(role);
      const config = podConfig(role, path);
      const port = config[roles[role]].port;
      assert.equal(container.ports?.length, 1, `${role}: one container port`);
      assert.equal(container.ports?.[0].containerPort, port, `${role}: the container port is the port spillway ${role} listens on`);
      assert.equal(containerPort(container, container.readinessProbe?.httpGet?.port), port);
      assert.equal(container.readinessProbe?.httpGet?.path, probePaths.readiness, `${role} readiness`);
      assert.equal(containerPort(container, container.livenessProbe?.httpGet?.port), port);
      assert.equal(container.livenessProbe?.httpGet?.path, probePaths.liveness, `${role} liveness`);
      assert.equal(container.startupProbe?.httpGet?.path, probePaths.liveness, `${role} startup`);
      const { deployment } = deploymentOf(role);
      assert.equal(deployment.spec?.template.metadata?.annotations?.['prometheus.io/port'], String(port));
    }
  });
});

test('every variable a pod gets (env, spillway-env, the Secret) is one Spillway reads', () => {
  withConfigFile((path) => {
    for (const role of roleNames) {
      const { container } = deploymentOf(role);
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef) assert.equal(source.configMapRef.name, 'spillway-env');
        if (source.secretRef) assert.equal(source.secretRef.name, secretExample.metadata?.name);
      }
      const names = [...new Set([...(container.env ?? []).map((e) => e.name), ...Object.keys(envConfigMap), ...Object.keys(secretExample.stringData ?? {})])];
      assert.deepEqual(inertVariables(names, roles[role], path), [], `${role}: variables that change nothing`);
    }
  });
});

test('requests and limits are set, requests within limits', () => {
  for (const role of roleNames) {
    const { resources } = deploymentOf(role).container;
    for (const resource of ['cpu', 'memory']) {
      const request = resources?.requests?.[resource];
      const limit = resources?.limits?.[resource];
      assert.ok(request !== undefined && limit !== undefined, `${role}: ${resource} request and limit`);
      assert.ok(quantity(request) <= quantity(limit), `${role}: ${resource} request over its limit`);
    }
  }
});

test("the termination grace period covers preStop and the CLI's drain, and not much more", () => {
  const { exitByMs } = shutdownTiming();
  for (const role of roleNames) {
    const { deployment, container } = deploymentOf(role);
    const preStop = container.lifecycle?.preStop?.exec?.command ?? [];
    const preStopSeconds = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
    const grace = deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
    assert.ok(grace * 1000 >= preStopSeconds * 1000 + exitByMs, `${role}: ${grace} s < preStop ${preStopSeconds} s + ${exitByMs} ms`);
    assert.ok(grace <= preStopSeconds + Math.ceil(exitByMs / 1000) + 10, `${role}: ${grace} s leaves a stuck pod around long after the CLI gave up`);
  }
  for (const role of ['ingest', 'results'] as const) assert.ok(deploymentOf(role).container.lifecycle?.preStop, `${role}: preStop lets the endpoint leave the load balancers first`);
});

test('each Deployment has a PodDisruptionBudget and a Service selecting its pods, and no other', () => {
  const budgets = objects<IPodDisruptionBudget>('PodDisruptionBudget');
  const services = objects<IService>('Service');
  for (const role of roleNames) {
    const { deployment, container } = deploymentOf(role);
    assert.ok(selects(deployment.spec?.selector.matchLabels, podLabels(deployment)), `${role}: the Deployment selects its own pods`);
    const others = deployments.filter((d) => d !== deployment).map(podLabels);
    const budget = budgets.filter((b) => selects(b.spec?.selector?.matchLabels, podLabels(deployment)));
    assert.equal(budget.length, 1, `${role}: one PodDisruptionBudget`);
    assert.ok(!others.some((labels) => selects(budget[0].spec?.selector?.matchLabels, labels)), `${role}: its budget covers other pods too`);
    const service = services.filter((s) => selects(s.spec?.selector, podLabels(deployment)));
    assert.equal(service.length, 1, `${role}: one Service`);
    assert.ok(!others.some((labels) => selects(service[0].spec?.selector, labels)), `${role}: its Service selects other pods too`);
    for (const port of service[0].spec?.ports ?? []) assert.ok(containerPort(container, port.targetPort) !== undefined, `${role}: Service targetPort ${port.targetPort}`);
  }
});

test('pods run as the image user, non-root, read-only, with the config file where SPILLWAY_CONFIG says', () => {
  const dockerUser = /^USER (\d+):(\d+)$/m.exec(readFileSync(join(repoRoot, 'deploy/docker/Dockerfile'), 'utf8'));
  assert.ok(dockerUser, 'the Dockerfile has a numeric USER');
  for (const role of roleNames) {
    const { deployment, container } = deploymentOf(role);
    const pod = deployment.spec?.template.spec;
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.equal(pod?.securityContext?.runAsUser, Number(dockerUser[1]), `${role}: the Dockerfile's USER`);
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
    const configPath = envValue(container, 'SPILLWAY_CONFIG') ?? '';
    const mount = container.volumeMounts?.find((m) => configPath.startsWith(`${m.mountPath}/`));
    const volume = pod?.volumes?.find((v) => v.name === mount?.name);
    assert.equal(volume?.configMap?.name, 'spillway-config', `${role}: ${configPath} is spillway-config`);
    assert.ok(configPath.endsWith('/spillway.yaml'));
  }
});

test('ingest and results mount one ReadWriteMany volume at files.dir', () => {
  withConfigFile((path) => {
    const claims = new Set<string>();
    for (const role of ['ingest', 'results'] as const) {
      const { deployment, container } = deploymentOf(role);
      const filesDir = podConfig(role, path).files.dir;
      const mount = container.volumeMounts?.find((m) => m.mountPath === filesDir);
      assert.ok(mount, `${role}: nothing mounted at files.dir ${filesDir}`);
      const claim = deployment.spec?.template.spec?.volumes?.find((v) => v.name === mount.name)?.persistentVolumeClaim?.claimName;
      assert.ok(claim, `${role}: files.dir is a PersistentVolumeClaim`);
      claims.add(claim);
    }
    assert.equal(claims.size, 1, 'the same claim');
    assert.deepEqual(named<IPersistentVolumeClaim>('PersistentVolumeClaim', [...claims][0]).spec?.accessModes, ['ReadWriteMany']);
  });
});

// KEDA's Kafka scaler parameters (keda.sh/docs/scalers/apache-kafka); trigger metadata is a free
// map in the CRD, so a misspelt one would pass the schema.
const kafkaScalerParameters = new Set(['bootstrapServers', 'bootstrapServersFromEnv', 'consumerGroup', 'consumerGroupFromEnv', 'topic', 'topicFromEnv', 'lagThreshold', 'activationLagThreshold', 'offsetResetPolicy', 'allowIdleConsumers', 'excludePersistentLag', 'scaleToZeroOnInvalidOffset', 'limitToPartitionsWithLag', 'ensureEvenDistributionOfPartitions', 'partitionLimitation', 'version', 'sasl', 'tls', 'unsafeSsl']);

test("KEDA scales the worker Deployment on its consumer groups' lag on the requests topics", () => {
  withConfigFile((path) => {
    const config = podConfig('worker', path);
    const scaled = objects<IScaledObject>('ScaledObject');
    assert.equal(scaled.length, 1);
    const spec = scaled[0].spec;
    assert.equal(spec.scaleTargetRef.name, deploymentOf('worker').deployment.metadata?.name);
    assert.ok((spec.scaleTargetRef.kind ?? 'Deployment') === 'Deployment');

    const groups = groupIds(config.prefix);
    const topics = topicNames(config.prefix);
    // Parked batch requests wait on the delay topic on timers, not in worker slots: not load.
    const expected = workerSubscriptions()
      .filter((s) => s.topic !== 'delayed')
      .map((s) => `${groups[s.group as keyof typeof groups]} <- ${topics[s.topic as keyof typeof topics]}`);
    assert.ok(expected.includes(`${groups.worker} <- ${topics.interactive}`) && expected.includes(`${groups.batchWorker} <- ${topics.batch}`));
    const triggers = spec.triggers.map((t) => {
      assert.equal(t.type, 'kafka');
      for (const key of Object.keys(t.metadata)) assert.ok(kafkaScalerParameters.has(key), `trigger ${t.name}: ${key} is no Kafka scaler parameter`);
      assert.equal(t.metadata.bootstrapServers, config.kafka.brokers.join(','), `trigger ${t.name}: the brokers of spillway-env KAFKA_BROKERS`);
      assert.ok(Number(t.metadata.lagThreshold) > 0, `trigger ${t.name}: lagThreshold`);
      assert.equal(t.metadata.offsetResetPolicy, 'earliest', 'the worker consumes from the beginning of a new group');
      return `${t.metadata.consumerGroup} <- ${t.metadata.topic}`;
    });
    assert.deepEqual(triggers.sort(), expected.sort());

    const partitions = config.kafka.partitions;
    assert.ok((spec.minReplicaCount ?? 0) >= 1, 'at least one worker stays');
    assert.ok((spec.maxReplicaCount ?? 100) <= Math.max(partitions.interactive, partitions.batch), 'workers past the partition count would sit idle');
    assert.ok((spec.maxReplicaCount ?? 100) >= (spec.minReplicaCount ?? 0));
  });
});
