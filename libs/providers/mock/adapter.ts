// The built-in mock provider: deterministic answers with configurable time to first token and
// token rate, no network. It answers a first run with no keys, and serves load tests.
import { setTimeout as delay } from 'node:timers/promises';
import type { ChatChunk, ChatCompletion, ChatRequest } from '#libs/contracts/chat.ts';
import type { ProviderConfig } from '#libs/config/schema.ts';
import { lastUserText, splitTokens } from '../message-text.ts';
import { exactModels, matchesModel } from '../model-pattern.ts';
import type { CallOptions, CallResult, ProviderAdapter, StreamCall } from '../provider.ts';

type MockConfig = Extract<ProviderConfig, { type: 'mock' }>;

let sequence = 0;

export class MockAdapter implements ProviderAdapter {
  readonly name: string;
  readonly type = 'mock';
  private readonly config: MockConfig;

  constructor(name: string, config: MockConfig) {
    this.name = name;
    this.config = config;
  }

  serves(model: string): boolean {
    return matchesModel(this.config.models, model);
  }

  listModels(): string[] {
    const exact = exactModels(this.config.models);
    return exact.length > 0 ? exact : ['echo'];
  }

  private reply(body: ChatRequest): { text: string; tokens: string[]; promptTokens: number } {
    const text = this.config.reply ?? `Mock response: ${lastUserText(body.messages)}`;
    const promptTokens = body.messages.reduce((n, m) => n + (typeof m.content === 'string' ? splitTokens(m.content).length : 1), 0);
    return { text, tokens: splitTokens(text), promptTokens };
  }

  private tokenGapMs(): number {
    return this.config.tokensPerSecond > 0 ? 1000 / this.config.tokensPerSecond : 0;
  }

  async complete(body: ChatRequest, opts: CallOptions): Promise<CallResult<ChatCompletion>> {
    const { text, tokens, promptTokens } = this.reply(body);
    const wait = this.config.latencyMs + this.tokenGapMs() * Math.max(0, tokens.length - 1);
    if (wait > 0) await delay(wait, undefined, { signal: opts.signal });
    return {
      keyId: undefined,
      value: {
        id: `chatcmpl-mock${++sequence}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: opts.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: promptTokens, completion_tokens: tokens.length, total_tokens: promptTokens + tokens.length },
      },
    };
  }

  async stream(body: ChatRequest, opts: CallOptions): Promise<StreamCall> {
    const { tokens, promptTokens } = this.reply(body);
    const id = `chatcmpl-mock${++sequence}`;
    const created = Math.floor(Date.now() / 1000);
    const gap = this.tokenGapMs();
    const latency = this.config.latencyMs;
    const chunk = (delta: Record<string, unknown>, finish: string | null): ChatChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: opts.model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    async function* chunks(): AsyncGenerator<ChatChunk> {
      if (latency > 0) await delay(latency, undefined, { signal: opts.signal });
      yield chunk({ role: 'assistant', content: '' }, null);
      for (let i = 0; i < tokens.length; i++) {
        if (i > 0 && gap > 0) await delay(gap, undefined, { signal: opts.signal });
        yield chunk({ content: tokens[i] }, null);
      }
      yield chunk({}, 'stop');
      yield { id, object: 'chat.completion.chunk', created, model: opts.model, choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: tokens.length, total_tokens: promptTokens + tokens.length } };
    }
    return { chunks: chunks() };
  }

  async close(): Promise<void> {}
}
