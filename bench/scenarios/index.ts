// Every scenario `npm run bench -- --scenario NAME` knows, in the order `all` runs them.
import type { Scenario } from '../scenario.ts';
import { batchIngest } from './batch-ingest.ts';
import { failover } from './failover.ts';
import { fairShare } from './fair-share.ts';
import { governed } from './governed.ts';
import { inflight } from './inflight.ts';
import { midStreamFailover } from './mid-stream-failover.ts';
import { mixed } from './mixed.ts';
import { realtime } from './realtime.ts';
import { stream } from './stream.ts';
import { sync } from './sync.ts';

export const scenarios: readonly Scenario[] = [sync, stream, inflight, batchIngest, mixed, fairShare, failover, midStreamFailover, governed, realtime];
