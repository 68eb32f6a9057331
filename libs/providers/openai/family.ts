// The OpenAI-compatible family: providers that speak OpenAI's wire format at their own base URL.
// Each is one declarative entry — `type: groq` in spillway.yaml needs no baseUrl, and
// GROQ_API_KEY alone enables it when there is no config file.

/** Every `type` the OpenAI adapter serves: the family, plus `openai-compatible` for any other server. */
export const familyTypes = ['openai-compatible', 'openai', 'groq', 'mistral', 'deepseek', 'xai', 'together', 'fireworks', 'openrouter', 'cerebras', 'perplexity', 'ollama', 'vllm'] as const;
export type FamilyType = (typeof familyTypes)[number];

export interface FamilyPreset {
  /** The `type` in spillway.yaml, and the provider's name when enabled from the environment. */
  type: Exclude<FamilyType, 'openai-compatible'>;
  /** Prefix of <ENV>_API_KEY / <ENV>_BASE_URL. */
  env: string;
  baseUrl: string;
  /** Model patterns a bare model name resolves by. */
  models: string[];
  /** Runs locally, usually without a key: enabled from <ENV>_BASE_URL alone. */
  local?: boolean;
}

export const familyPresets: readonly FamilyPreset[] = [
  { type: 'openai', env: 'OPENAI', baseUrl: 'https://api.openai.com/v1', models: ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-*', 'o1*', 'o3*', 'o4*', 'chatgpt-*', 'text-embedding-*'] },
  { type: 'groq', env: 'GROQ', baseUrl: 'https://api.groq.com/openai/v1', models: ['llama-*', 'meta-llama/*', 'openai/gpt-oss-*', 'qwen/*'] },
  { type: 'mistral', env: 'MISTRAL', baseUrl: 'https://api.mistral.ai/v1', models: ['mistral-*', 'codestral-*', 'ministral-*', 'magistral-*', 'open-mistral-*'] },
  { type: 'deepseek', env: 'DEEPSEEK', baseUrl: 'https://api.deepseek.com/v1', models: ['deepseek-*'] },
  { type: 'xai', env: 'XAI', baseUrl: 'https://api.x.ai/v1', models: ['grok-*'] },
  { type: 'together', env: 'TOGETHER', baseUrl: 'https://api.together.xyz/v1', models: [] },
  { type: 'fireworks', env: 'FIREWORKS', baseUrl: 'https://api.fireworks.ai/inference/v1', models: ['accounts/fireworks/models/*'] },
  { type: 'openrouter', env: 'OPENROUTER', baseUrl: 'https://openrouter.ai/api/v1', models: [] },
  { type: 'cerebras', env: 'CEREBRAS', baseUrl: 'https://api.cerebras.ai/v1', models: [] },
  { type: 'perplexity', env: 'PERPLEXITY', baseUrl: 'https://api.perplexity.ai', models: ['sonar*'] },
  { type: 'ollama', env: 'OLLAMA', baseUrl: 'http://localhost:11434/v1', models: [], local: true },
  { type: 'vllm', env: 'VLLM', baseUrl: 'http://localhost:8000/v1', models: [], local: true },
];

/** A provider entry with its preset's baseUrl and models filled in where the entry leaves them out. */
export function withFamilyDefaults(entry: unknown): unknown {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return entry;
  const record = entry as Record<string, unknown>;
  const preset = familyPresets.find((p) => p.type === record.type);
  if (!preset) return entry;
  return { ...record, baseUrl: record.baseUrl ?? preset.baseUrl, models: record.models ?? preset.models };
}
