// The chat request in Gemini's generateContent shape: messages become contents (user and model
// turns, system text apart), tools become function declarations, parameters a generationConfig.
import type { ChatMessage, ChatRequest } from '#libs/contracts/chat.ts';
import { isRecord } from '../http.ts';
import { toGeminiSchema } from './schema.ts';

type Json = Record<string, unknown>;

export interface GeminiPart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType: string; fileUri: string };
  functionCall?: { name: string; args: Json };
  functionResponse?: { name: string; response: Json };
}

export interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}


/**
 * Gemini 3 rejects a replayed function call without the thought signature it was issued with.
 * A history from another model has none; Google documents this value for that case.
 */
export const missingThoughtSignature = 'skip_thought_signature_validator';

/** The generateContent body for a chat request (the model goes in the URL). */
export function toGeminiRequest(request: ChatRequest): Json {
  const system: GeminiPart[] = [];
  const contents: GeminiContent[] = [];
  const toolNames = toolNamesById(request.messages);
  for (const message of request.messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textParts(message.content));
        break;
      case 'user':
        append(contents, 'user', userParts(message.content));
        break;
      case 'assistant':
        append(contents, 'model', assistantParts(message));
        break;
      case 'tool':
        append(contents, 'user', [functionResponse(toolNames.get(message.tool_call_id ?? '') ?? message.name ?? '', message.content)]);
        break;
      case 'function':
        append(contents, 'user', [functionResponse(message.name ?? '', message.content)]);
        break;
    }
  }
  const body: Json = {};
  // Gemini refuses a request without contents; a system-only chat becomes the user's turn.
  if (contents.length === 0 && system.length > 0) contents.push({ role: 'user', parts: system });
  else if (system.length > 0) body.systemInstruction = { parts: system };
  body.contents = contents;

  const tools = functionDeclarations(request.tools);
  if (tools.length > 0) body.tools = [{ functionDeclarations: tools }];
  const toolConfig = functionCallingConfig(request.tool_choice);
  if (toolConfig) body.toolConfig = { functionCallingConfig: toolConfig };
  const generationConfig = generationConfigOf(request);
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  return body;
}

/** Consecutive turns of one role become one content: Gemini wants user and model to alternate. */
function append(contents: GeminiContent[], role: GeminiContent['role'], parts: GeminiPart[]): void {
  if (parts.length === 0) return;
  const last = contents.at(-1);
  if (last?.role === role) last.parts.push(...parts);
  else contents.push({ role, parts });
}

function toolNamesById(messages: ChatMessage[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const message of messages) {
    for (const call of message.tool_calls ?? []) {
      const fn = call.function;
      if (isRecord(fn) && typeof fn.name === 'string') names.set(call.id, fn.name);
    }
  }
  return names;
}

function textParts(content: ChatMessage['content']): GeminiPart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) return [];
  return content.flatMap((part) => (part.type === 'text' && typeof part.text === 'string' ? [{ text: part.text }] : []));
}

function plainText(content: ChatMessage['content']): string {
  return textParts(content)
    .map((p) => p.text ?? '')
    .join('');
}

function userParts(content: ChatMessage['content']): GeminiPart[] {
  if (typeof content === 'string') return [{ text: content }];
  if (!Array.isArray(content)) return [];
  const parts: GeminiPart[] = [];
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') parts.push({ text: part.text });
    else if (part.type === 'image_url') {
      const url = isRecord(part.image_url) ? part.image_url.url : part.image_url;
      if (typeof url === 'string') parts.push(mediaPart(url, 'image/jpeg'));
    } else if (part.type === 'input_audio' && isRecord(part.input_audio)) {
      const { data, format } = part.input_audio;
      if (typeof data === 'string' && typeof format === 'string') parts.push({ inlineData: { mimeType: `audio/${format}`, data } });
    } else if (part.type === 'file' && isRecord(part.file) && typeof part.file.file_data === 'string') {
      parts.push(mediaPart(part.file.file_data, 'application/pdf'));
    }
  }
  return parts;
}

/** A data: URL is sent inline; any other URL (https, gs://) by reference. */
function mediaPart(url: string, fallbackMime: string): GeminiPart {
  const data = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/s.exec(url);
  if (data) {
    const [, mime, params, payload] = data;
    const base64 = params.split(';').includes('base64') ? payload : Buffer.from(decodeURIComponent(payload)).toString('base64');
    return { inlineData: { mimeType: mime || fallbackMime, data: base64 } };
  }
  return { fileData: { mimeType: mimeFromUrl(url) ?? fallbackMime, fileUri: url } };
}

const mimeByExtension: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
  mp3: 'audio/mp3',
  wav: 'audio/wav',
  mp4: 'video/mp4',
};

function mimeFromUrl(url: string): string | undefined {
  const path = url.split(/[?#]/)[0] ?? '';
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  return ext ? mimeByExtension[ext] : undefined;
}

function assistantParts(message: ChatMessage): GeminiPart[] {
  const parts = textParts(message.content);
  let first = true;
  for (const call of message.tool_calls ?? []) {
    const fn = call.function;
    if (call.type !== 'function' || !isRecord(fn) || typeof fn.name !== 'string') continue;
    const part: GeminiPart = { functionCall: { name: fn.name, args: parseArguments(fn.arguments) } };
    // Only the first call of a parallel step carries a signature.
    const signature = thoughtSignatureOf(call) ?? (first ? missingThoughtSignature : undefined);
    if (signature !== undefined) part.thoughtSignature = signature;
    parts.push(part);
    first = false;
  }
  return parts;
}

function parseArguments(args: unknown): Json {
  if (isRecord(args)) return args;
  if (typeof args !== 'string' || args.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(args);
    return isRecord(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

/** Carried on tool calls as Google's own OpenAI-compatible endpoint does: extra_content.google.thought_signature. */
function thoughtSignatureOf(call: Json): string | undefined {
  const extra = call.extra_content;
  const google = isRecord(extra) ? extra.google : undefined;
  const signature = isRecord(google) ? google.thought_signature : undefined;
  return typeof signature === 'string' ? signature : undefined;
}

function functionResponse(name: string, content: ChatMessage['content']): GeminiPart {
  const text = plainText(content);
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // plain text output
  }
  // Gemini wants an object; anything else is reported under "output", the key it reads.
  return { functionResponse: { name, response: isRecord(value) ? value : { output: value } } };
}

function functionDeclarations(tools: ChatRequest['tools']): Json[] {
  const declarations: Json[] = [];
  for (const tool of tools ?? []) {
    const fn = tool.function;
    if (tool.type !== 'function' || !isRecord(fn) || typeof fn.name !== 'string') continue;
    const declaration: Json = { name: fn.name };
    if (typeof fn.description === 'string') declaration.description = fn.description;
    const parameters = toGeminiSchema(fn.parameters);
    // Gemini rejects an OBJECT without properties; a function without arguments has no schema.
    if (parameters && !(parameters.type === 'object' && !isNonEmptyRecord(parameters.properties))) declaration.parameters = parameters;
    declarations.push(declaration);
  }
  return declarations;
}

function isNonEmptyRecord(value: unknown): boolean {
  return isRecord(value) && Object.keys(value).length > 0;
}

function functionCallingConfig(choice: unknown): Json | undefined {
  if (choice === 'auto') return { mode: 'AUTO' };
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'required') return { mode: 'ANY' };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { mode: 'ANY', allowedFunctionNames: [choice.function.name] };
  }
  return undefined;
}

function generationConfigOf(request: ChatRequest): Json {
  const config: Json = {};
  const set = (key: string, value: unknown): void => {
    if (value !== undefined && value !== null) config[key] = value;
  };
  set('temperature', request.temperature);
  set('topP', request.top_p);
  set('maxOutputTokens', request.max_completion_tokens ?? request.max_tokens);
  const stop = request.stop;
  if (typeof stop === 'string') config.stopSequences = [stop];
  else if (Array.isArray(stop) && stop.length > 0) config.stopSequences = stop;
  set('candidateCount', request.n);
  set('presencePenalty', request.presence_penalty);
  set('frequencyPenalty', request.frequency_penalty);
  set('seed', request.seed);
  const format = request.response_format;
  if (isRecord(format) && format.type === 'json_object') config.responseMimeType = 'application/json';
  if (isRecord(format) && format.type === 'json_schema') {
    config.responseMimeType = 'application/json';
    const schema = isRecord(format.json_schema) ? toGeminiSchema(format.json_schema.schema) : undefined;
    if (schema) config.responseSchema = schema;
  }
  return config;
}
