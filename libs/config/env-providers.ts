// Providers enabled from the environment when no config file names any, the way users of
// other gateways expect: <NAME>_API_KEY, optionally <NAME>_BASE_URL.
import type { ProviderConfig } from './schema.ts';

interface Preset {
  name: string;
  env: string;
  baseUrl: string;
  models: string[];
}

const presets: Preset[] = [
  { name: 'openai', env: 'OPENAI', baseUrl: 'https://api.openai.com/v1', models: ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-*', 'o1*', 'o3*', 'o4*', 'chatgpt-*', 'text-embedding-*'] },
  { name: 'groq', env: 'GROQ', baseUrl: 'https://api.groq.com/openai/v1', models: ['llama-*', 'meta-llama/*', 'openai/gpt-oss-*', 'qwen/*'] },
  { name: 'mistral', env: 'MISTRAL', baseUrl: 'https://api.mistral.ai/v1', models: ['mistral-*', 'codestral-*', 'ministral-*', 'magistral-*', 'open-mistral-*'] },
  { name: 'deepseek', env: 'DEEPSEEK', baseUrl: 'https://api.deepseek.com/v1', models: ['deepseek-*'] },
  { name: 'xai', env: 'XAI', baseUrl: 'https://api.x.ai/v1', models: ['grok-*'] },
  { name: 'together', env: 'TOGETHER', baseUrl: 'https://api.together.xyz/v1', models: [] },
  { name: 'fireworks', env: 'FIREWORKS', baseUrl: 'https://api.fireworks.ai/inference/v1', models: ['accounts/fireworks/models/*'] },
  { name: 'openrouter', env: 'OPENROUTER', baseUrl: 'https://openrouter.ai/api/v1', models: [] },
  { name: 'cerebras', env: 'CEREBRAS', baseUrl: 'https://api.cerebras.ai/v1', models: [] },
  { name: 'perplexity', env: 'PERPLEXITY', baseUrl: 'https://api.perplexity.ai', models: ['sonar*'] },
];

export function providersFromEnv(env: NodeJS.ProcessEnv): Record<string, ProviderConfig> {
  const providers: Record<string, ProviderConfig> = {};
  for (const preset of presets) {
    const key = env[`${preset.env}_API_KEY`];
    if (!key) continue;
    providers[preset.name] = {
      type: preset.name === 'openai' ? 'openai' : 'openai-compatible',
      baseUrl: env[`${preset.env}_BASE_URL`] || preset.baseUrl,
      keys: [{ id: `${preset.name}-env`, key, weight: 1 }],
      models: preset.models,
      headers: {},
    };
  }
  return providers;
}

/** Providers whose adapters are not built yet: named so start-up can say so instead of ignoring them. */
export function unsupportedEnvProviders(env: NodeJS.ProcessEnv): string[] {
  return ['ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'AZURE_OPENAI_API_KEY'].filter((name) => Boolean(env[name]));
}
