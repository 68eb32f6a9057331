// The markdown a bench run writes next to its JSON: one section per scenario, tables only.
import type { Memory } from './processes.ts';
import type { FairnessReport, GapsReport, InflightReport, PairedReport, RateReport, RealtimeReport, ScenarioReport, ThroughputReport } from './scenario.ts';

export interface BenchReport {
  startedAt: string;
  durationS: number;
  command: string;
  machine: Record<string, string | number>;
  options: Record<string, unknown>;
  scenarios: ScenarioReport[];
  failures: Array<{ scenario: string; error: string }>;
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '–');
const mb = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(0) : '–');
const signed = (v: number): string => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(1)}` : '–');

function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors);
  return entries.length === 0 ? '0' : entries.map(([k, n]) => `${n} × ${k}`).join(', ');
}

function memoryTable(memory: Record<string, Memory | undefined>): string[] {
  const lines = ['| process | VmRSS MB | VmHWM MB |', '|---|---:|---:|'];
  for (const [name, m] of Object.entries(memory)) lines.push(`| ${name} | ${mb(m?.rssMb)} | ${mb(m?.hwmMb)} |`);
  return lines;
}

function rateSection(rate: RateReport, subject: string, baseline: string): string[] {
  const lines = [`### ${rate.rate} requests/s offered, ${rate.pairs} pairs`, ''];
  for (const c of rate.comparisons) {
    lines.push(
      `**${c.metric}** (ms; the upstream itself takes ${c.upstreamMs} ms; medians over the pairs)`,
      '',
      `| | ${subject} observed | ${baseline} observed | ${subject} added | ${baseline} added | ${subject} − ${baseline} | per pair |`,
      '|---|---:|---:|---:|---:|---:|---|',
    );
    for (const row of c.rows) {
      const label = row.percentile === 100 ? 'max' : `p${row.percentile}`;
      lines.push(
        `| ${label} | ${ms(row.subject)} | ${ms(row.baseline)} | ${ms(row.subject - c.upstreamMs)} | ${ms(row.baseline - c.upstreamMs)} | ${signed(row.difference)} | ${row.differences.map(signed).join(' ')} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    `| | ${subject} | ${baseline} |`,
    '|---|---:|---:|',
    `| achieved rate /s (median) | ${rate.achievedRate[subject]?.toFixed(0)} | ${rate.achievedRate[baseline]?.toFixed(0)} |`,
    `| errors (all runs) | ${errorsText(rate.errors[subject] ?? {})} | ${errorsText(rate.errors[baseline] ?? {})} |`,
    `| generator send lag p99 ms (median) | ${ms(rate.sendLagP99[subject] ?? Number.NaN)} | ${ms(rate.sendLagP99[baseline] ?? Number.NaN)} |`,
    '',
  );
  const last = rate.runs.at(-1);
  if (last !== undefined) lines.push('Memory after the last run at this rate:', '', ...memoryTable(last.memory), '');
  return lines;
}

/** A scenario section's title, what it measures, and its setup. */
function heading(report: { scenario: string; measures: string; setup: Record<string, string | number> }): string[] {
  const setup = Object.entries(report.setup).map(([k, v]) => `${k} ${v}`).join(', ');
  return [`## ${report.scenario}`, '', report.measures, '', `Setup: ${setup}.`, ''];
}

function pairedSection(report: PairedReport): string[] {
  const subject = report.rates[0]?.runs[0]?.target ?? 'spillway';
  const baseline = report.rates[0]?.runs[1]?.target ?? 'floor';
  return [...heading(report), ...report.rates.flatMap((r) => rateSection(r, subject, baseline))];
}

function inflightSection(report: InflightReport): string[] {
  const lines = [
    ...heading(report),
    '| | in flight at sample | upstream connections open | idle RSS MB | RSS in flight MB | VmHWM MB | MB per in-flight request (total) | MB per in-flight request (above idle) | ok | errors | added p50 / p99 / max ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const t of report.targets) {
    lines.push(
      `| ${t.target} | ${t.inFlightAtSample} | ${t.upstreamConnections} | ${mb(t.idleRssMb)} | ${mb(t.peakRssMb)} | ${mb(t.hwmMb)} | ${t.mbPerRequestTotal.toFixed(3)} | ${t.mbPerRequestAdded.toFixed(3)} | ${t.ok} | ${errorsText(t.errors)} | ${ms(t.added.p50)} / ${ms(t.added.p99)} / ${ms(t.added.p100)} |`,
    );
  }
  lines.push('');
  for (const t of report.targets) lines.push(`Memory after the ${t.target} run:`, '', ...memoryTable(t.memory), '');
  return lines;
}

function throughputSection(report: ThroughputReport): string[] {
  const lines = [
    ...heading(report),
    '| offered /s | achieved /s | recorded | ok | errors | answer p50 / p99 / max ms | send lag p99 ms |',
    '|---:|---:|---:|---:|---|---|---:|',
  ];
  for (const r of report.runs) {
    lines.push(`| ${r.offeredRate} | ${r.achievedRate.toFixed(0)} | ${r.recorded} | ${r.ok} | ${errorsText(r.errors)} | ${ms(r.latency.p50)} / ${ms(r.latency.p99)} / ${ms(r.latency.p100)} | ${ms(r.sendLag.p99)} |`);
  }
  lines.push('');
  const last = report.runs.at(-1);
  if (last !== undefined) lines.push('Memory after the last run:', '', ...memoryTable(last.memory), '');
  return lines;
}

function realtimeSection(report: RealtimeReport): string[] {
  const lines = [
    ...heading(report),
    '| streams (sockets) | added per token p50 / p90 / p99 / max ms | time to first token p50 / p99 ms | done | errors | RSS idle → with streams open MB | MB per open stream |',
    '|---|---|---|---:|---|---|---:|',
  ];
  for (const r of report.runs) {
    const t = r.addedPerToken;
    lines.push(
      `| ${r.streams} (${r.sockets}) | ${ms(t.p50)} / ${ms(t.p90)} / ${ms(t.p99)} / ${ms(t.p100)} | ${ms(r.firstToken.p50)} / ${ms(r.firstToken.p99)} | ${r.ok} | ${errorsText(r.errors)} | ${mb(r.idleRssMb)} → ${mb(r.peakRssMb)} | ${r.mbPerStream.toFixed(3)} |`,
    );
  }
  lines.push('');
  return lines;
}

function fairnessSection(report: FairnessReport): string[] {
  const lines = [...heading(report), '| small batch beside | small batch done in ms | large batch done then |', '|---|---:|---|'];
  for (const r of report.runs) {
    lines.push(`| ${r.beside} | ${ms(r.smallBatchMs)} | ${r.largeTotal === undefined ? '—' : `${r.largeDoneThen ?? 0} of ${r.largeTotal}`} |`);
  }
  lines.push('');
  return lines;
}

function gapsSection(report: GapsReport): string[] {
  const lines = [...heading(report), '| ms | p50 | p90 | p99 | max | count |', '|---|---:|---:|---:|---:|---:|'];
  for (const { label, gap } of report.rows) lines.push(`| ${label} | ${ms(gap.p50)} | ${ms(gap.p90)} | ${ms(gap.p99)} | ${ms(gap.p100)} | ${gap.count} |`);
  lines.push('', `Added by the failover: p50 ${ms(report.addedP50)} ms, p99 ${ms(report.addedP99)} ms.`, '');
  return lines;
}

export function renderMarkdown(report: BenchReport): string {
  const machine = Object.entries(report.machine).map(([k, v]) => `${k}: ${v}`).join('; ');
  const lines = [
    `# Spillway benchmark, ${report.startedAt}`,
    '',
    `Command: \`${report.command}\` (${report.durationS.toFixed(0)} s)`,
    '',
    `Machine: ${machine}`,
    '',
  ];
  for (const s of report.scenarios) {
    if (s.kind === 'paired') lines.push(...pairedSection(s));
    else if (s.kind === 'inflight') lines.push(...inflightSection(s));
    else if (s.kind === 'throughput') lines.push(...throughputSection(s));
    else if (s.kind === 'fairness') lines.push(...fairnessSection(s));
    else if (s.kind === 'gaps') lines.push(...gapsSection(s));
    else lines.push(...realtimeSection(s));
  }
  for (const f of report.failures) lines.push(`## ${f.scenario}: FAILED`, '', '```', f.error, '```', '');
  return lines.join('\n');
}
