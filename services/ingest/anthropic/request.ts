// An Anthropic Messages request, validated and rewritten as the canonical OpenAI chat request
// the engine runs: the system prompt becomes the first message, tool results become `tool`
// messages, tool uses become tool_calls, images become image_url parts.
import type { ChatMessage, ChatRequest } from '#libs/contracts/chat.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { invalidRequest } from './invalid-request.ts';
import { anthropicRequestSchema, type AnthropicImageSource, type AnthropicMessageParam, type AnthropicRequest } from './schema.ts';

type ContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

export function anthropicToChat(body: unknown): ChatRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError(400, 'The request body must be a JSON object.', { code: 'invalid_request_body' });
  }
  const parsed = anthropicRequestSchema.safeParse(body);
  if (!parsed.success) throw invalidRequest(parsed.error.issues, body);
  return translate(parsed.data);
}

function translate(req: AnthropicRequest): ChatRequest {
  const messages: ChatMessage[] = [];
  const system = systemText(req.system);
  if (system !== '') messages.push({ role: 'system', content: system });
  for (const message of req.messages) messages.push(...translateMessage(message));

  const chat: ChatRequest = { model: req.model, messages, max_tokens: req.max_tokens };
  if (req.temperature != null) chat.temperature = req.temperature;
  if (req.top_p != null) chat.top_p = req.top_p;
  if (req.stop_sequences != null && req.stop_sequences.length > 0) chat.stop = req.stop_sequences;
  if (req.metadata?.user_id != null) chat.user = req.metadata.user_id;
  if (req.fallbacks !== undefined) chat.fallbacks = req.fallbacks;
  if (req.stream === true) {
    chat.stream = true;
    // message_start and message_delta report usage; without this the relay withholds it.
    chat.stream_options = { include_usage: true };
  }
  if (req.tools != null && req.tools.length > 0) {
    chat.tools = req.tools.map((tool) => ({
      type: 'function',
      function: { name: tool.name, ...(tool.description !== undefined ? { description: tool.description } : {}), parameters: tool.input_schema },
    }));
    const choice = req.tool_choice;
    if (choice != null) {
      if (choice.type === 'auto') chat.tool_choice = 'auto';
      else if (choice.type === 'any') chat.tool_choice = 'required';
      else if (choice.type === 'none') chat.tool_choice = 'none';
      else chat.tool_choice = { type: 'function', function: { name: choice.name } };
      if (choice.type !== 'none' && choice.disable_parallel_tool_use === true) chat.parallel_tool_calls = false;
    }
  }
  return chat;
}

/** Text blocks are joined with a blank line: they are paragraphs of one prompt. */
function systemText(system: AnthropicRequest['system']): string {
  if (system == null) return '';
  if (typeof system === 'string') return system;
  return system.map((block) => block.text).join('\n\n');
}

function translateMessage(message: AnthropicMessageParam): ChatMessage[] {
  if (typeof message.content === 'string') return [{ role: message.role, content: message.content }];
  if (message.role === 'assistant') {
    let text = '';
    const toolCalls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] = [];
    for (const block of message.content) {
      if (block.type === 'text') text += block.text;
      else if (block.type === 'tool_use') toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input) } });
    }
    if (toolCalls.length === 0) return [{ role: 'assistant', content: text }];
    return [{ role: 'assistant', content: text === '' ? null : text, tool_calls: toolCalls }];
  }

  // OpenAI wants each tool result as its own message straight after the assistant's tool_calls,
  // so results go first, in order, and the rest of the turn follows as one user message.
  const out: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  for (const block of message.content) {
    if (block.type === 'text') parts.push({ type: 'text', text: block.text });
    else if (block.type === 'image') parts.push(imagePart(block.source));
    else {
      const content = block.content ?? '';
      const texts = typeof content === 'string' ? [content] : content.flatMap((b) => (b.type === 'text' ? [b.text] : []));
      const text = texts.join('\n');
      out.push({ role: 'tool', tool_call_id: block.tool_use_id, content: block.is_error === true ? `Error: ${text}` : text });
      // A tool message carries text only; images a tool returned reach the model in the user turn.
      if (typeof content !== 'string') for (const b of content) if (b.type === 'image') parts.push(imagePart(b.source));
    }
  }
  if (parts.length > 0) out.push({ role: 'user', content: parts });
  return out;
}

function imagePart(source: AnthropicImageSource): ContentPart {
  const url = source.type === 'base64' ? `data:${source.media_type};base64,${source.data}` : source.url;
  return { type: 'image_url', image_url: { url } };
}
