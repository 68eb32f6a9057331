// Builds the configured provider adapters, holds their keys, and gives routing the view of
// providers and aliases it expands a request's route against.
import type { Config, ProviderConfig } from '#libs/config/schema.ts';
import { ConfigError } from '#libs/config/load.ts';
import { expandChain, type Chain, type ChainConfig, type ProviderLike, type RouteRequest } from '#libs/routing/chain.ts';
import { keyIdOf } from '#libs/routing/key-pool.ts';
import { AnthropicAdapter } from './anthropic/adapter.ts';
import { BedrockAdapter } from './bedrock/adapter.ts';
import { GeminiAdapter, VertexAdapter } from './gemini/adapter.ts';
import { MockAdapter } from './mock/adapter.ts';
import { OpenAIAdapter } from './openai/adapter.ts';
import type { ProviderAdapter } from './provider.ts';

function adapterFor(name: string, provider: ProviderConfig): ProviderAdapter {
  switch (provider.type) {
    case 'mock':
      return new MockAdapter(name, provider);
    case 'anthropic':
      return new AnthropicAdapter(name, provider);
    case 'bedrock':
      return new BedrockAdapter(name, provider);
    case 'gemini':
      return new GeminiAdapter(name, provider);
    case 'vertex':
      return new VertexAdapter(name, provider);
    default:
      return new OpenAIAdapter(name, provider);
  }
}

export class ProviderRegistry {
  readonly adapters: ProviderAdapter[];
  /** True when no provider was configured and the built-in mock answers everything. */
  readonly mockOnly: boolean;

  private readonly chainConfig: ChainConfig;
  private readonly secrets = new Map<string, string>();

  constructor(config: Config) {
    const entries = Object.entries(config.providers);
    this.mockOnly = entries.length === 0;
    if (this.mockOnly) entries.push(['mock', { type: 'mock', models: ['*'], ...config.mock }]);
    this.adapters = entries.map(([name, provider]) => adapterFor(name, provider));
    const providers: Record<string, ProviderLike> = {};
    for (const [name, provider] of entries) {
      const keys = 'keys' in provider ? provider.keys : [];
      providers[name] = { models: provider.models, keys };
      keys.forEach((key, index) => this.secrets.set(`${name}\u0000${keyIdOf(name, key, index)}`, key.key));
    }
    this.chainConfig = { providers, routing: config.routing, models: config.models };
    for (const alias of Object.keys(config.models)) {
      const unresolved = this.chain({ model: alias }).unresolved;
      if (unresolved.length > 0) throw new ConfigError(`models.${alias}: no alias or configured provider serves ${unresolved.map((n) => `"${n}"`).join(', ')}`);
    }
  }

  /** The chain of targets a route walks (aliases expanded, fallbacks in order). */
  chain(route: RouteRequest): Chain {
    return expandChain(route, this.chainConfig);
  }

  routingView(): ChainConfig {
    return this.chainConfig;
  }

  /** The secret of a key routing chose; never logged, never put in a result. */
  secret(provider: string, keyId: string): string | undefined {
    return this.secrets.get(`${provider}\u0000${keyId}`);
  }

  get(name: string): ProviderAdapter | undefined {
    return this.adapters.find((a) => a.name === name);
  }

  /** The ids listed at /v1/models. */
  /** A model's names for a key's allow-list: itself, and for `provider/model` of a configured provider, the bare model too. */
  namesOf(model: string): string[] {
    const slash = model.indexOf('/');
    return slash > 0 && this.adapters.some((a) => a.name === model.slice(0, slash)) ? [model, model.slice(slash + 1)] : [model];
  }

  listModels(): { id: string; owned_by: string }[] {
    const aliases = Object.keys(this.chainConfig.models ?? {}).map((id) => ({ id, owned_by: 'spillway' }));
    return [...aliases, ...this.adapters.flatMap((a) => a.listModels().map((m) => ({ id: `${a.name}/${m}`, owned_by: a.name })))];
  }

  async close(): Promise<void> {
    await Promise.all(this.adapters.map((a) => a.close()));
  }
}
