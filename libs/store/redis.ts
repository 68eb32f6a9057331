// The Redis store. Commands issued in the same tick share one round trip (auto-pipelining);
// live events go out by PUBLISH on the waiting instance's channel, plus XADD for replay.
import { Redis } from 'ioredis';
import { liveEventSchema, resultEnvelopeSchema, type LiveEvent, type ResultEnvelope } from '#libs/contracts/envelope.ts';
import type { Logger } from '#libs/telemetry/logger.ts';
import { storeKeys, type PublishTarget, type RequestState, type Store, type StoreOptions } from './store.ts';

const replayMaxLen = 10_000;

// Renews or releases a claim only if this owner still holds it.
const renewScript = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const releaseScript = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class RedisStore implements Store {
  readonly durable = true;
  private readonly client: Redis;
  private subscriber: Redis | undefined;
  private readonly keys: ReturnType<typeof storeKeys>;
  private readonly opts: StoreOptions;
  private readonly log: Logger;

  constructor(url: string, opts: StoreOptions, logger: Logger) {
    this.opts = opts;
    this.keys = storeKeys(opts.prefix);
    this.log = logger.child({ component: 'redis' });
    this.client = new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 20, lazyConnect: false });
    this.client.on('error', (err: Error) => this.log.warn({ err: err.message }, 'redis connection error'));
  }

  async publish(event: LiveEvent, target: PublishTarget): Promise<void> {
    const payload = JSON.stringify(event);
    const pipeline = this.client.pipeline();
    if (target.replay) this.appendReplay(pipeline, event, payload);
    if (target.replyTo) pipeline.publish(this.keys.reply(target.replyTo), payload);
    await execOrThrow(pipeline);
  }

  async finish(result: ResultEnvelope, event: LiveEvent, target: PublishTarget): Promise<void> {
    const payload = JSON.stringify(event);
    const pipeline = this.client.multi();
    pipeline.set(this.keys.result(result.id), JSON.stringify(result), 'EX', this.opts.resultTtlSeconds);
    pipeline.del(this.keys.state(result.id));
    if (target.replay) this.appendReplay(pipeline, event, payload);
    if (target.replyTo) pipeline.publish(this.keys.reply(target.replyTo), payload);
    await execOrThrow(pipeline);
  }

  private appendReplay(pipeline: ReturnType<Redis['pipeline']>, event: LiveEvent, payload: string): void {
    const key = this.keys.events(event.id);
    pipeline.xadd(key, 'MAXLEN', '~', String(replayMaxLen), `${event.seq}-0`, 'e', payload);
    pipeline.expire(key, this.opts.replayTtlSeconds);
  }

  async subscribeInstance(instanceId: string, onEvent: (event: LiveEvent) => void): Promise<() => Promise<void>> {
    this.subscriber ??= this.client.duplicate({ enableAutoPipelining: false });
    const sub = this.subscriber;
    sub.on('error', (err: Error) => this.log.warn({ err: err.message }, 'redis subscriber connection error'));
    const channel = this.keys.reply(instanceId);
    const listener = (ch: string, message: string): void => {
      if (ch !== channel) return;
      const parsed = liveEventSchema.safeParse(JSON.parse(message));
      if (parsed.success) onEvent(parsed.data);
      else this.log.error({ issues: parsed.error.issues }, 'dropped a malformed live event');
    };
    sub.on('message', listener);
    await sub.subscribe(channel);
    return async () => {
      sub.off('message', listener);
      await sub.unsubscribe(channel);
    };
  }

  async saveResult(result: ResultEnvelope): Promise<void> {
    await this.client.set(this.keys.result(result.id), JSON.stringify(result), 'EX', this.opts.resultTtlSeconds);
  }

  async getResult(id: string): Promise<ResultEnvelope | undefined> {
    const raw = await this.client.get(this.keys.result(id));
    if (raw === null) return undefined;
    return resultEnvelopeSchema.parse(JSON.parse(raw));
  }

  async setState(id: string, state: RequestState): Promise<void> {
    await this.client.set(this.keys.state(id), state, 'EX', this.opts.resultTtlSeconds);
  }

  async getState(id: string): Promise<RequestState | undefined> {
    const raw = await this.client.get(this.keys.state(id));
    return raw === 'accepted' || raw === 'running' ? raw : undefined;
  }

  async claim(id: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.client.set(this.keys.claim(id), owner, 'PX', leaseMs, 'NX')) === 'OK';
  }

  async renewClaim(id: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.client.eval(renewScript, 1, this.keys.claim(id), owner, String(leaseMs))) === 1;
  }

  async releaseClaim(id: string, owner: string): Promise<void> {
    await this.client.eval(releaseScript, 1, this.keys.claim(id), owner);
  }

  async ready(): Promise<boolean> {
    try {
      return (await this.client.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.client.quit().catch(() => undefined), this.subscriber?.quit().catch(() => undefined)]);
  }
}

async function execOrThrow(pipeline: { exec(): Promise<[Error | null, unknown][] | null> }): Promise<void> {
  const results = await pipeline.exec();
  for (const [err] of results ?? []) if (err) throw err;
}
