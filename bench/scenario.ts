// What a scenario is given and what it hands back. Adding a scenario: a file in scenarios/ that
// exports a Scenario, and one line in scenarios/index.ts.
import type { Memory } from './processes.ts';
import type { PairedPercentile, Summary } from './percentiles.ts';
import type { Services } from './targets.ts';

export interface BenchOptions {
  /** Offered rates for the rate-driven scenarios; undefined means each scenario's own default. */
  rates: number[] | undefined;
  durationS: number;
  warmupS: number;
  pairs: number;
  /** Client connections per target for the rate-driven scenarios. */
  connections: number;
  /** The spillway command to measure: this checkout's bin/spillway, or another checkout's (a commit under test). */
  spillwayBin: string;
}

export interface ScenarioContext {
  services: Services;
  options: BenchOptions;
  /** Child process logs and generated configs go here. */
  logDir: string;
  log(line: string): void;
}

export interface Scenario {
  name: string;
  /** One sentence: what the numbers mean. */
  measures: string;
  run(ctx: ScenarioContext): Promise<ScenarioReport>;
}

export interface RunRecord {
  target: string;
  pair: number;
  achievedRate: number;
  recorded: number;
  ok: number;
  errors: Record<string, number>;
  latency: Summary;
  firstToken?: Summary;
  tokenGap?: Summary;
  sendLag: Summary;
  maxInFlight: number;
  /** Every process's memory at the end of this run. */
  memory: Record<string, Memory | undefined>;
}

export interface MetricComparison {
  metric: string;
  /** What the upstream itself takes for this metric; "added" = observed − this. */
  upstreamMs: number;
  rows: PairedPercentile[];
}

export interface RateReport {
  rate: number;
  pairs: number;
  comparisons: MetricComparison[];
  /** Medians over the pairs. */
  achievedRate: Record<string, number>;
  /** Summed over every recorded run. */
  errors: Record<string, Record<string, number>>;
  /** Median over the pairs of each run's p99 send lag: when large, the generator was the limit. */
  sendLagP99: Record<string, number>;
  runs: RunRecord[];
}

export interface PairedReport {
  kind: 'paired';
  scenario: string;
  measures: string;
  setup: Record<string, string | number>;
  rates: RateReport[];
}

export interface InflightTargetReport {
  target: string;
  requests: number;
  /** Client requests open when memory was read. */
  inFlightAtSample: number;
  /** Connections from the target to the fake upstream open when memory was read. */
  upstreamConnections: number;
  idleRssMb: number;
  peakRssMb: number;
  hwmMb: number;
  /** peak RSS / in-flight requests. */
  mbPerRequestTotal: number;
  /** (peak − idle) RSS / in-flight requests. */
  mbPerRequestAdded: number;
  ok: number;
  errors: Record<string, number>;
  /** Client-observed minus the upstream's latency, for these slow requests. */
  added: Summary;
  memory: Record<string, Memory | undefined>;
}

export interface InflightReport {
  kind: 'inflight';
  scenario: string;
  measures: string;
  setup: Record<string, string | number>;
  targets: InflightTargetReport[];
}

export interface ThroughputRun {
  offeredRate: number;
  achievedRate: number;
  recorded: number;
  ok: number;
  errors: Record<string, number>;
  /** Due time to the answer, ms. */
  latency: Summary;
  sendLag: Summary;
  memory: Record<string, Memory | undefined>;
}

export interface ThroughputReport {
  kind: 'throughput';
  scenario: string;
  measures: string;
  setup: Record<string, string | number>;
  runs: ThroughputRun[];
}

export interface RealtimeReport {
  kind: 'realtime';
  scenario: string;
  measures: string;
  setup: Record<string, string | number>;
  runs: RealtimeRun[];
}

export interface RealtimeRun {
  sockets: number;
  streams: number;
  ok: number;
  errors: Record<string, number>;
  /** Client inter-token gap minus the upstream's interval, ms. */
  addedPerToken: Summary;
  /** Request frame sent to first text chunk, ms (includes the Kafka hop). */
  firstToken: Summary;
  idleRssMb: number;
  peakRssMb: number;
  mbPerStream: number;
  memory: Record<string, Memory | undefined>;
}

export interface FairnessRun {
  /** What ran beside the small batch. */
  beside: string;
  /** From creating the small batch to seeing it completed, ms. */
  smallBatchMs: number;
  /** The large batch's finished lines when the small one completed (of its total). */
  largeDoneThen: number | undefined;
  largeTotal: number | undefined;
}

export interface FairnessReport {
  kind: 'fairness';
  scenario: string;
  measures: string;
  setup: Record<string, string | number>;
  runs: FairnessRun[];
}

export interface GapsReport {
  kind: 'gaps';
  scenario: string;
  measures: string;
  setup: Record<string, string | number>;
  rows: { label: string; gap: Summary }[];
  /** What the failover adds: the gap at the cut over what the fakes put into it, less the same for the usual gap. */
  addedP50: number;
  addedP99: number;
}

export type ScenarioReport = PairedReport | InflightReport | ThroughputReport | RealtimeReport | FairnessReport | GapsReport;
