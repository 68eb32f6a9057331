// What an attempt span says about the provider: the GenAI convention's provider name for each
// provider type, and the host its calls go to, defaults included.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { providerSchema } from '#libs/config/schema.ts';
import { genAiProviderName, serverOf } from './tracing-genai.ts';

describe('attempt span provider attributes', () => {
  it('names providers by their well-known gen_ai.provider.name, others by their type', () => {
    assert.deepEqual(
      ['openai', 'azure', 'anthropic', 'bedrock', 'gemini', 'vertex', 'mistral', 'xai', 'ollama', 'openai-compatible'].map(genAiProviderName),
      ['openai', 'azure.ai.openai', 'anthropic', 'aws.bedrock', 'gcp.gemini', 'gcp.vertex_ai', 'mistral_ai', 'x_ai', 'ollama', 'openai-compatible'],
    );
  });

  it('finds the server of each provider, from its configuration or its default endpoint', () => {
    const server = (raw: Record<string, unknown>) => serverOf(providerSchema.parse(raw));
    assert.deepEqual(server({ type: 'openai-compatible', baseUrl: 'http://127.0.0.1:8080/v1' }), { address: '127.0.0.1', port: 8080 });
    assert.deepEqual(server({ type: 'groq' }), { address: 'api.groq.com', port: 443 });
    assert.deepEqual(server({ type: 'azure', endpoint: 'https://team.openai.azure.com' }), { address: 'team.openai.azure.com', port: 443 });
    assert.deepEqual(server({ type: 'bedrock', region: 'eu-west-1' }), { address: 'bedrock-runtime.eu-west-1.amazonaws.com', port: 443 });
    assert.deepEqual(server({ type: 'vertex', project: 'p', location: 'europe-west4' }), { address: 'europe-west4-aiplatform.googleapis.com', port: 443 });
    assert.deepEqual(server({ type: 'vertex', project: 'p', location: 'global' }), { address: 'aiplatform.googleapis.com', port: 443 });
    assert.deepEqual(server({ type: 'anthropic' }), { address: 'api.anthropic.com', port: 443 });
    assert.equal(server({ type: 'mock' }), undefined);
  });
});
