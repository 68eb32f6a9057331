// Providers enabled from the environment when no config file names any, the way users of
// other gateways expect: <NAME>_API_KEY, optionally <NAME>_BASE_URL.
import { familyPresets } from '#libs/providers/openai/family.ts';
import type { ProviderConfig } from './schema.ts';

export function providersFromEnv(env: NodeJS.ProcessEnv): Record<string, ProviderConfig> {
  const providers: Record<string, ProviderConfig> = {};
  for (const preset of familyPresets) {
    const key = env[`${preset.env}_API_KEY`];
    const baseUrl = env[`${preset.env}_BASE_URL`];
    if (!key && !(preset.local && baseUrl)) continue;
    providers[preset.type] = {
      type: preset.type,
      baseUrl: baseUrl || preset.baseUrl,
      keys: key ? [{ id: `${preset.type}-env`, key, weight: 1 }] : [],
      models: preset.models,
      headers: {},
    };
  }
  if (env.ANTHROPIC_API_KEY) {
    providers.anthropic = {
      type: 'anthropic',
      baseUrl: env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com',
      keys: [{ id: 'anthropic-env', key: env.ANTHROPIC_API_KEY, weight: 1 }],
      models: ['claude-*'],
      headers: {},
      version: '2023-06-01',
      maxTokens: 4096,
    };
  }
  if (env.GEMINI_API_KEY) {
    providers.gemini = {
      type: 'gemini',
      baseUrl: env.GEMINI_BASE_URL || 'https://generativelanguage.googleapis.com',
      keys: [{ id: 'gemini-env', key: env.GEMINI_API_KEY, weight: 1 }],
      models: ['gemini-*'],
      headers: {},
    };
  }
  // Azure OpenAI as its SDKs read it: the key and the resource endpoint.
  if (env.AZURE_OPENAI_API_KEY && env.AZURE_OPENAI_ENDPOINT) {
    providers.azure = {
      type: 'azure',
      endpoint: env.AZURE_OPENAI_ENDPOINT,
      apiVersion: env.OPENAI_API_VERSION || env.AZURE_OPENAI_API_VERSION || '2024-10-21',
      deployments: {},
      keys: [{ id: 'azure-env', key: env.AZURE_OPENAI_API_KEY, weight: 1 }],
      models: ['*'],
      headers: {},
    };
  }
  return providers;
}
