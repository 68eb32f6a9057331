// Batch ingest: requests per second the async API accepts (target ≥ 10,000/s). The async and
// batch APIs do not exist yet; when they do, this file drives them and returns a report.
import type { Scenario, UnavailableReport } from '../scenario.ts';

export const batchIngest: Scenario = {
  name: 'batch-ingest',
  measures: 'Requests per second accepted by the async/batch API (202 and durable in Kafka), not waiting for answers.',
  run(): Promise<UnavailableReport> {
    return Promise.resolve({
      kind: 'unavailable',
      scenario: 'batch-ingest',
      measures: batchIngest.measures,
      reason: 'not available yet: Spillway has no async or batch API to submit to.',
    });
  },
};
