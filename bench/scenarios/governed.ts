// What governance costs a request: one Spillway, two client keys. The governed key has rpm, tpm
// and a daily budget at each of its three levels (key, team, customer), so every request is one
// admission script in Redis over three subjects, and its usage is priced and counted; the plain
// key has no limits, so admission is skipped. Same process, same path otherwise: the difference
// is what admission adds. Interleaved pairs, like the other paired scenarios.
import { runPairs } from '../paired-runs.ts';
import type { PairedReport, Scenario, ScenarioContext } from '../scenario.ts';
import { prime, startSpillway, startUpstream, type Target } from '../targets.ts';
import { processPids } from './process-pids.ts';

const defaultRates = [200];
const body = JSON.stringify({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], max_tokens: 16 });
// Limits far above what the runs send: every request is admitted, and pays for being checked.
const limits = '{ rpm: 100000000, tpm: 1000000000 }';
const budgets = '[{ usd: 1000000000, period: day }]';

async function run(ctx: ScenarioContext): Promise<PairedReport> {
  const upstream = await startUpstream({ latencyMs: 0, tokenIntervalMs: 0, logDir: ctx.logDir, label: 'governed' });
  const spillway = await startSpillway({
    bin: ctx.options.spillwayBin,
    upstream,
    services: ctx.services,
    workerConcurrency: 1024,
    logDir: ctx.logDir,
    label: 'governed',
    config: [
      'auth:',
      `  customers: [{ id: bench-customer, limits: ${limits}, budgets: ${budgets} }]`,
      `  teams: [{ id: bench-team, customer: bench-customer, limits: ${limits}, budgets: ${budgets} }]`,
      '  keys:',
      '    - { id: bench, key: sk-bench }',
      `    - { id: governed, key: sk-bench-governed, team: bench-team, limits: ${limits}, budgets: ${budgets} }`,
      'pricing: { "openai/*": { input: 0.15, output: 0.6 } }',
    ],
  });
  const limited: Target = { ...spillway, name: 'governed', headers: { authorization: 'Bearer sk-bench-governed' } };
  const plain: Target = { ...spillway, name: 'plain' };
  await prime(plain, body, 60_000);
  const pids = processPids(ctx, { spillway: spillway.child, upstream: upstream.child });
  const rates = [];
  for (const rate of ctx.options.rates ?? defaultRates) rates.push(await runPairs(ctx, { rate, stream: false, body, subject: limited, baseline: plain, upstream, pids }));
  await spillway.child.stop();
  await upstream.child.stop();
  return {
    kind: 'paired',
    scenario: 'governed',
    measures: governed.measures,
    setup: { 'upstream latency ms': 0, 'levels with rpm, tpm and a budget': 3, 'worker concurrency': 1024, 'client connections': ctx.options.connections },
    rates,
  };
}

export const governed: Scenario = {
  name: 'governed',
  measures: 'Non-streaming requests from a key with rpm, tpm and a budget at key, team and customer level, against a key with none, on the same Spillway: what admission and usage counting add.',
  run,
};
