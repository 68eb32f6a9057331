// One structured logger for every service. Secrets are removed by configuration: any field
// that can carry a key or an authorization header is redacted before it is written.
import { pino, type Logger } from 'pino';

export type { Logger };

export const redactedPaths = [
  'key',
  'apiKey',
  'secret',
  '*.secret',
  'authorization',
  '*.key',
  '*.apiKey',
  '*.authorization',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers["api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const options: pino.LoggerOptions = {
    name: opts.name ?? 'spillway',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: redactedPaths, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
