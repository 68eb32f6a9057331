// docs/operations.md against the code it describes: every metric Spillway registers, with each
// of its labels, and every topic and consumer group, so a new metric or topic cannot go
// undocumented. The README's Deployment section must point to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { createMetrics } from '#libs/telemetry/metrics.ts';
import { groupIds, topicNames } from '#libs/bus/topics.ts';
import { repoRoot } from './code-facts.ts';

const doc = readFileSync(join(repoRoot, 'docs/operations.md'), 'utf8');
const metricShape = z.object({ name: z.string(), labelNames: z.array(z.string()).default([]) });

test('every metric is in the metrics table, with each of its labels', () => {
  const metrics = createMetrics({ defaultMetrics: false }).registry.getMetricsAsArray().map((m) => metricShape.parse(m));
  assert.ok(metrics.length > 0);
  for (const metric of metrics) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${metric.name}\` |`));
    assert.ok(row, `docs/operations.md has no table row for ${metric.name}`);
    for (const label of metric.labelNames) assert.ok(row.includes(`\`${label}\``), `${metric.name}: label ${label} is not described`);
    if (metric.labelNames.length === 0) assert.match(row, /\| none \|/, `${metric.name}: say it has no labels`);
  }
});

test('every topic and consumer group of the default prefix is named', () => {
  for (const name of [...Object.values(topicNames('spillway')), ...Object.values(groupIds('spillway'))]) {
    assert.ok(doc.includes(`\`${name}\``), `docs/operations.md does not name ${name}`);
  }
});

test("the README's Deployment section links the operations guide", () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = /^## Deployment\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  assert.ok(section, 'README.md has a "## Deployment" section');
  assert.ok(section.includes('(docs/operations.md)'));
  for (const path of ['deploy/docker/Dockerfile', 'deploy/compose/compose.yaml', 'deploy/k8s']) assert.ok(section.includes(path), `the Deployment section names ${path}`);
});
