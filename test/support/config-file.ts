// spillway.yaml files for spillway subprocesses in crash tests: each process can get its own
// upstream and timings. Files live in one temp directory per test file, removed in after().
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';

export interface ConfigDir {
  dir: string;
  /** Writes `<name>.yaml` and returns its path, for SPILLWAY_CONFIG. */
  write(name: string, config: Record<string, unknown>): Promise<string>;
  remove(): Promise<void>;
}

export async function configDir(): Promise<ConfigDir> {
  const dir = await mkdtemp(path.join(tmpdir(), 'spillway-config-'));
  return {
    dir,
    async write(name, config) {
      const file = path.join(dir, `${name}.yaml`);
      await writeFile(file, stringify(config));
      return file;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The `providers` section serving gpt-4o-mini from a fake OpenAI upstream. A distinct key per
 * process lets a test tell, from the upstream's records, which process made each call.
 */
export function fakeOpenAIProvider(baseUrl: string, key = 'sk-fake-upstream'): Record<string, unknown> {
  return { openai: { type: 'openai', baseUrl, keys: [{ id: 'fake', key }], models: ['gpt-4o-mini'] } };
}

/**
 * Timings that keep crash recovery short: a dead consumer's partitions move after 6 s (Kafka's
 * floor), and its claims expire after 3 s, before the redelivery arrives. The partition counts
 * are those of the in-process test gateway, which creates the topics.
 */
export function fastRecoveryConfig(partitions: { interactive: number; batch: number; results: number } = { interactive: 2, batch: 2, results: 2 }): Record<string, Record<string, unknown>> {
  return {
    kafka: { sessionTimeoutMs: 6_000, partitions },
    worker: { claimLeaseMs: 3_000 },
  };
}
