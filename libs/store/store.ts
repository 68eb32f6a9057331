// The fast shared state: live events, replayable token streams, result records and execution
// claims. Redis in production, in-memory in the embedded default. Kafka stays the record.
import type { LiveEvent, ResultEnvelope } from '#libs/contracts/envelope.ts';

export type RequestState = 'accepted' | 'running';

export interface PublishTarget {
  /** The ingest instance waiting live, if any. */
  replyTo?: string;
  /** Also append to the request's replayable stream (for streams that can be resumed). */
  replay: boolean;
}

export interface Store {
  readonly durable: boolean;
  /** Publishes one live event; events of one request are delivered in publish order. */
  publish(event: LiveEvent, target: PublishTarget): Promise<void>;
  /** Records the result, then publishes its terminal event, so no waiter sees an answer that is not stored. */
  finish(result: ResultEnvelope, event: LiveEvent, target: PublishTarget): Promise<void>;
  /** Delivers every live event addressed to this ingest instance. Returns the unsubscribe. */
  subscribeInstance(instanceId: string, onEvent: (event: LiveEvent) => void): Promise<() => Promise<void>>;

  saveResult(result: ResultEnvelope): Promise<void>;
  getResult(id: string): Promise<ResultEnvelope | undefined>;
  setState(id: string, state: RequestState): Promise<void>;
  getState(id: string): Promise<RequestState | undefined>;

  /** Takes the execution lease for a request; false when another live owner holds it. */
  claim(id: string, owner: string, leaseMs: number): Promise<boolean>;
  renewClaim(id: string, owner: string, leaseMs: number): Promise<boolean>;
  releaseClaim(id: string, owner: string): Promise<void>;

  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreOptions {
  prefix: string;
  resultTtlSeconds: number;
  replayTtlSeconds: number;
}

export function storeKeys(prefix: string): {
  result: (id: string) => string;
  state: (id: string) => string;
  claim: (id: string) => string;
  events: (id: string) => string;
  reply: (instanceId: string) => string;
} {
  return {
    result: (id) => `${prefix}:result:${id}`,
    state: (id) => `${prefix}:state:${id}`,
    claim: (id) => `${prefix}:claim:${id}`,
    events: (id) => `${prefix}:events:${id}`,
    reply: (instanceId) => `${prefix}:reply:${instanceId}`,
  };
}
