// Field schemas every provider entry shares; provider config schemas import them from here.
import { z } from 'zod';

/** A number that may arrive as a string from a `${ENV}` reference (`port: ${PORT:-8080}`). */
export const fromEnvString = (value: unknown): unknown =>
  typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;

/** A boolean that may arrive as the string `true` or `false` from a `${ENV}` reference. */
export const booleanFromEnv = (value: unknown): unknown => (value === 'true' ? true : value === 'false' ? false : value);

export const keySchema = z.object({
  /** Shown in logs, metrics and results instead of the key itself. */
  id: z.string().optional(),
  key: z.string().min(1, 'key must not be empty'),
  weight: z.preprocess(fromEnvString, z.number().positive().default(1)),
  models: z.array(z.string()).optional(),
});
