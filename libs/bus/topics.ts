// Every topic and consumer group name carries the deployment prefix.
import type { Config } from '#libs/config/schema.ts';
import type { TopicSpec } from './bus.ts';

export interface Topics {
  interactive: string;
  batch: string;
  results: string;
  dlq: string;
  /** Batch requests parked until their provider's rate limit resets (services/worker/parking.ts). */
  delayed: string;
  /** What every finished request used and cost: budgets are counted from it (services/results/usage-counter.ts). */
  usage: string;
  /** Admin actions and key lifecycle events, kept for good (services/admin/audit.ts). */
  audit: string;
}

export function topicNames(prefix: string): Topics {
  return {
    interactive: `${prefix}.requests.interactive`,
    batch: `${prefix}.requests.batch`,
    results: `${prefix}.results`,
    dlq: `${prefix}.requests.dlq`,
    delayed: `${prefix}.requests.delayed`,
    usage: `${prefix}.usage`,
    audit: `${prefix}.audit`,
  };
}

export function topicSpecs(config: Config): TopicSpec[] {
  const names = topicNames(config.prefix);
  const p = config.kafka.partitions;
  return [
    { name: names.interactive, partitions: p.interactive },
    { name: names.batch, partitions: p.batch },
    { name: names.results, partitions: p.results },
    { name: names.dlq, partitions: p.dlq },
    { name: names.delayed, partitions: p.batch },
    { name: names.usage, partitions: p.results },
    // Append-only and never deleted by age or size: an audit trail is kept, not compacted.
    { name: names.audit, partitions: 1, configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' } },
  ];
}

export function groupIds(prefix: string): { worker: string; batchWorker: string; delayed: string; results: string; webhooks: string; batches: string; usage: string } {
  // Webhooks and batch progress read the results topic in groups of their own: neither holds back recording results.
  return { worker: `${prefix}.worker`, batchWorker: `${prefix}.worker.batch`, delayed: `${prefix}.worker.delayed`, results: `${prefix}.results`, webhooks: `${prefix}.webhooks`, batches: `${prefix}.batches`, usage: `${prefix}.usage` };
}
