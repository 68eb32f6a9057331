// Builds the configured provider adapters and resolves a requested model to one of them:
// "provider/model" names the provider; a bare name goes to the first provider that serves it.
import type { Config } from '#libs/config/schema.ts';
import { MockAdapter } from './mock/adapter.ts';
import { OpenAIAdapter } from './openai/adapter.ts';
import type { ProviderAdapter } from './provider.ts';

export interface ResolvedModel {
  adapter: ProviderAdapter;
  /** The model name sent upstream. */
  model: string;
}

export class ProviderRegistry {
  readonly adapters: ProviderAdapter[];
  /** True when no provider was configured and the built-in mock answers everything. */
  readonly mockOnly: boolean;

  constructor(config: Config) {
    const entries = Object.entries(config.providers);
    this.mockOnly = entries.length === 0;
    if (this.mockOnly) entries.push(['mock', { type: 'mock', models: ['*'], latencyMs: 0, tokensPerSecond: 0 }]);
    this.adapters = entries.map(([name, provider]) =>
      provider.type === 'mock' ? new MockAdapter(name, provider) : new OpenAIAdapter(name, provider, config.defaults.timeouts),
    );
  }

  get(name: string): ProviderAdapter | undefined {
    return this.adapters.find((a) => a.name === name);
  }

  resolve(requested: string): ResolvedModel | undefined {
    const slash = requested.indexOf('/');
    if (slash > 0) {
      const adapter = this.get(requested.slice(0, slash));
      const model = requested.slice(slash + 1);
      if (adapter && model) return { adapter, model };
    }
    const adapter = this.adapters.find((a) => a.serves(requested));
    return adapter ? { adapter, model: requested } : undefined;
  }

  /** The ids listed at /v1/models. */
  listModels(): { id: string; owned_by: string }[] {
    return this.adapters.flatMap((a) => a.listModels().map((m) => ({ id: `${a.name}/${m}`, owned_by: a.name })));
  }

  async close(): Promise<void> {
    await Promise.all(this.adapters.map((a) => a.close()));
  }
}
