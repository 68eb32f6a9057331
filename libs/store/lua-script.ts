// Lua scripts on Redis, sent by digest (EVALSHA) and in full only when Redis does not have them yet.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface LuaScript {
  text: string;
  sha: string;
}

export function lua(text: string): LuaScript {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

export async function runScript(client: Redis, source: LuaScript, keys: string[], args: string[]): Promise<unknown> {
  try {
    return await client.evalsha(source.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return client.eval(source.text, keys.length, ...keys, ...args);
  }
}
