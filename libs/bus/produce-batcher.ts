// Messages produced in the same turn of the event loop go out as one send: per-request work is
// most of what a produce costs a Kafka client, and under load the batches grow by themselves.
// Every caller waits for the acknowledgement of its batch, or a BusUnavailableError at the timeout.
import { BusUnavailableError, type OutgoingMessage } from './bus.ts';
import { withTraceHeaders } from './trace-headers.ts';

export interface ProduceBatch {
  topic: string;
  messages: OutgoingMessage[];
}

interface Pending extends ProduceBatch {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class ProduceBatcher {
  private pending: Pending[] = [];
  private readonly send: (batches: ProduceBatch[]) => Promise<void>;
  private readonly timeoutMs: number;

  constructor(send: (batches: ProduceBatch[]) => Promise<void>, timeoutMs: number) {
    this.send = send;
    this.timeoutMs = timeoutMs;
  }

  produce(topic: string, messages: OutgoingMessage[]): Promise<void> {
    // The caller's trace context is read now: the send runs later, in another one.
    const traced = withTraceHeaders(messages);
    return new Promise((resolve, reject) => {
      this.pending.push({ topic, messages: traced, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BusUnavailableError(`Kafka did not acknowledge within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    const send = this.send(batch);
    // The send keeps running after a timeout; its late failure is not news to anyone.
    send.catch(() => undefined);
    Promise.race([send, timeout])
      .then(
        () => {
          for (const p of batch) p.resolve();
        },
        (err: unknown) => {
          const error = err instanceof BusUnavailableError ? err : new BusUnavailableError(`Kafka produce failed: ${(err as Error).message}`);
          for (const p of batch) p.reject(error);
        },
      )
      .finally(() => clearTimeout(timer));
  }
}
