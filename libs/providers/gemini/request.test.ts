// The chat request in Gemini's shape, with expected values written by hand from Google's REST
// reference (ai.google.dev/api/generate-content, function calling, thought signatures).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatRequest } from '#libs/contracts/chat.ts';
import { missingThoughtSignature, toGeminiRequest } from './request.ts';
import { toGeminiSchema } from './schema.ts';

const chat = (fields: Partial<ChatRequest> & Pick<ChatRequest, 'messages'>): ChatRequest => ({ model: 'gemini-2.5-flash', ...fields });

void describe('toGeminiRequest', () => {
  void it('puts system and developer text in systemInstruction and merges consecutive turns of one role', () => {
    const body = toGeminiRequest(chat({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hello' },
        { role: 'user', content: [{ type: 'text', text: 'Are you there?' }] },
        { role: 'assistant', content: 'Oui.' },
        { role: 'user', content: 'Merci' },
      ],
    }));
    assert.deepEqual(body, {
      systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Hello' }, { text: 'Are you there?' }] },
        { role: 'model', parts: [{ text: 'Oui.' }] },
        { role: 'user', parts: [{ text: 'Merci' }] },
      ],
    });
  });

  void it('sends a system-only chat as the user turn, since Gemini refuses empty contents', () => {
    assert.deepEqual(toGeminiRequest(chat({ messages: [{ role: 'system', content: 'Say hi.' }] })), {
      contents: [{ role: 'user', parts: [{ text: 'Say hi.' }] }],
    });
  });

  void it('sends data: URLs inline and other URLs by reference', () => {
    const body = toGeminiRequest(chat({
      messages: [{
        role: 'user',
        content: [
          { type: 'text', text: 'Compare' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.webp?size=large', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'gs://bucket/photo' } },
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
        ],
      }],
    }));
    assert.deepEqual(body.contents, [{
      role: 'user',
      parts: [
        { text: 'Compare' },
        { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
        { fileData: { mimeType: 'image/webp', fileUri: 'https://example.com/cat.webp?size=large' } },
        { fileData: { mimeType: 'image/jpeg', fileUri: 'gs://bucket/photo' } },
        { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
        { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
      ],
    }]);
  });

  void it('base64-encodes a data: URL that is not base64 already', () => {
    const body = toGeminiRequest(chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/svg+xml,%3Csvg%2F%3E' } }] }] }));
    assert.deepEqual(body.contents, [{ role: 'user', parts: [{ inlineData: { mimeType: 'image/svg+xml', data: Buffer.from('<svg/>').toString('base64') } }] }]);
  });

  void it('declares tools with the JSON-schema fields Gemini rejects removed', () => {
    const body = toGeminiRequest(chat({
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            strict: true,
            parameters: {
              $schema: 'http://json-schema.org/draft-07/schema#',
              type: 'object',
              additionalProperties: false,
              properties: {
                city: { type: 'string', description: 'City name', format: 'uri' },
                unit: { type: ['string', 'null'], enum: ['c', 'f'] },
                when: { type: 'string', format: 'date-time' },
              },
              required: ['city'],
            },
          },
        },
        { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
      ],
      tool_choice: 'required',
    }));
    assert.deepEqual(body.tools, [{
      functionDeclarations: [
        {
          name: 'get_weather',
          description: 'Current weather',
          parameters: {
            type: 'object',
            properties: {
              city: { type: 'string', description: 'City name' },
              unit: { type: 'string', nullable: true, enum: ['c', 'f'] },
              when: { type: 'string', format: 'date-time' },
            },
            required: ['city'],
          },
        },
        { name: 'ping' },
      ],
    }]);
    assert.deepEqual(body.toolConfig, { functionCallingConfig: { mode: 'ANY' } });
  });

  void it('inlines local $refs and turns Optional (anyOf with null) into nullable', () => {
    assert.deepEqual(
      toGeminiSchema({
        type: 'object',
        $defs: { Address: { type: 'object', properties: { street: { type: 'string' } }, additionalProperties: false } },
        properties: {
          home: { $ref: '#/$defs/Address', description: 'Where they live' },
          nickname: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null },
          id: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
          kind: { const: 'person' },
          level: { type: 'integer', enum: [1, 2, 3] },
          mood: { type: 'string', enum: ['up', 'down', null] },
          tags: { type: 'array', items: { type: 'string', minLength: 1 } },
        },
      }),
      {
        type: 'object',
        properties: {
          home: { type: 'object', properties: { street: { type: 'string' } }, description: 'Where they live' },
          nickname: { type: 'string', nullable: true, default: null },
          id: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
          kind: { enum: ['person'] },
          level: { type: 'integer' },
          mood: { type: 'string', enum: ['up', 'down'], nullable: true },
          tags: { type: 'array', items: { type: 'string', minLength: 1 } },
        },
      },
    );
  });

  void it('maps every tool_choice', () => {
    const choice = (tool_choice: unknown): unknown => toGeminiRequest(chat({ messages: [{ role: 'user', content: 'x' }], tool_choice })).toolConfig;
    assert.deepEqual(choice('auto'), { functionCallingConfig: { mode: 'AUTO' } });
    assert.deepEqual(choice('none'), { functionCallingConfig: { mode: 'NONE' } });
    assert.deepEqual(choice('required'), { functionCallingConfig: { mode: 'ANY' } });
    assert.deepEqual(choice({ type: 'function', function: { name: 'get_weather' } }), { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
    assert.equal(choice(undefined), undefined);
  });

  void it('replays a tool round trip: tool calls as functionCall parts, results as functionResponse named by call id', () => {
    const body = toGeminiRequest(chat({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_b', content: '12:00' },
        { role: 'tool', tool_call_id: 'call_a', content: '{"temp":21}' },
        { role: 'assistant', content: 'Sunny.', tool_calls: [{ id: 'call_c', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' }, extra_content: { google: { thought_signature: 'c2lnbmF0dXJl' } } }] },
        { role: 'tool', tool_call_id: 'call_c', content: [{ type: 'text', text: '[1,2]' }] },
      ],
    }));
    assert.deepEqual(body.contents, [
      { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: missingThoughtSignature },
          { functionCall: { name: 'get_time', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_time', response: { output: '12:00' } } },
          { functionResponse: { name: 'get_weather', response: { temp: 21 } } },
        ],
      },
      { role: 'model', parts: [{ text: 'Sunny.' }, { functionCall: { name: 'get_weather', args: { city: 'Rome' } }, thoughtSignature: 'c2lnbmF0dXJl' }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: [1, 2] } } }] },
    ]);
  });

  void it('maps the generation parameters, preferring max_completion_tokens', () => {
    const body = toGeminiRequest(chat({
      messages: [{ role: 'user', content: 'x' }],
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 100,
      max_completion_tokens: 50,
      stop: 'END',
      n: 2,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      seed: 7,
      response_format: { type: 'json_object' },
    }));
    assert.deepEqual(body.generationConfig, {
      temperature: 0.2,
      topP: 0.9,
      maxOutputTokens: 50,
      stopSequences: ['END'],
      candidateCount: 2,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      seed: 7,
      responseMimeType: 'application/json',
    });
    const stops = toGeminiRequest(chat({ messages: [{ role: 'user', content: 'x' }], max_tokens: 10, stop: ['a', 'b'] }));
    assert.deepEqual(stops.generationConfig, { maxOutputTokens: 10, stopSequences: ['a', 'b'] });
    assert.equal(toGeminiRequest(chat({ messages: [{ role: 'user', content: 'x' }] })).generationConfig, undefined);
  });

  void it('turns a json_schema response_format into responseMimeType and a cleaned responseSchema', () => {
    const body = toGeminiRequest(chat({
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false } } },
    }));
    assert.deepEqual(body.generationConfig, {
      responseMimeType: 'application/json',
      responseSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
    });
  });
});
