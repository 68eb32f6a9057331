// The Anthropic surface's dialect: results rendered as Anthropic Messages, errors in Anthropic's
// error shape, streams as Anthropic's event sequence.
import { chatChunkSchema, chatCompletionSchema } from '#libs/contracts/chat.ts';
import { GatewayError } from '#libs/contracts/openai-error.ts';
import { failureOf, type Dialect } from '../dialect.ts';
import { anthropicError } from './errors.ts';
import { chatToAnthropic } from './response.ts';
import { AnthropicStreamTranslator } from './stream.ts';

/** `model`: the model the client asked for, echoed in every answer as Anthropic does. */
export function anthropicDialect(model: string): Dialect {
  return {
    answer(result) {
      if (result.status !== 'succeeded') return { status: result.httpStatus, body: anthropicError(result.httpStatus, failureOf(result), result.id) };
      try {
        return { status: 200, body: chatToAnthropic(chatCompletionSchema.parse(result.response), model) };
      } catch (err) {
        const error = err instanceof GatewayError ? err : new GatewayError(502, "The provider's answer could not be rendered as an Anthropic message.");
        return { status: error.status, body: anthropicError(error.status, error.body, result.id) };
      }
    },
    error: (status, error) => anthropicError(status, error),
    stream() {
      const translator = new AnthropicStreamTranslator({ model });
      return {
        chunk: (data) => {
          const chunk = chatChunkSchema.safeParse(data);
          return chunk.success ? translator.push(chunk.data).join('') : '';
        },
        done: () => translator.finish().join(''),
        error: (status, error) => translator.error(status, error).join(''),
      };
    },
  };
}
