// Waits for a structured (pino JSON) log line in a growing list of lines: a test gateway's `logs`
// or a spillway process's `output`. Neither emits an event per line, so the list is re-read every
// few milliseconds until the line is there or the time is up. capturingLogger makes such a list.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '#libs/telemetry/logger.ts';

export type LogFields = Record<string, unknown>;

/** The line parsed as a JSON object, or undefined for a line that is not one. */
export function logFields(line: string): LogFields | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as LogFields) : undefined;
  } catch {
    return undefined;
  }
}

/** True when the line's fields include every field of `match` with the same value. */
export function logMatches(line: string, match: LogFields): boolean {
  const fields = logFields(line);
  return fields !== undefined && Object.entries(match).every(([k, v]) => fields[k] === v);
}

const pollMs = 20;

/** Resolves with the first line (from index `from` on) whose fields include `match`. */
export async function waitForLog(lines: readonly string[], match: LogFields, opts: { timeoutMs?: number; from?: number; what?: string } = {}): Promise<LogFields> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let scanned = opts.from ?? 0;
  for (;;) {
    for (; scanned < lines.length; scanned++) {
      const line = lines[scanned];
      if (line !== undefined && logMatches(line, match)) return logFields(line) ?? {};
    }
    if (Date.now() >= deadline) throw new Error(`no log line ${opts.what ?? JSON.stringify(match)} within ${opts.timeoutMs ?? 10_000} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * An afterEach hook that prints a gateway's warnings and errors when the test failed, so a
 * failure in CI shows what the gateway saw. Repeats of one message in a row are counted, not printed.
 */
export function printLogsOnFailure(lines: () => readonly string[] | undefined): (t: { name: string }) => void {
  return (t) => {
    // TestContext.passed (Node 21.7+) is not in this @types/node yet.
    if ((t as { passed?: boolean }).passed !== false) return;
    const out: string[] = [];
    let last = '';
    let repeats = 0;
    for (const line of lines() ?? []) {
      const fields = logFields(line);
      if (!fields || typeof fields.level !== 'number' || fields.level < 40) continue;
      const text = `${String(fields.time)} ${String(fields.msg)}${fields.groupId ? ` [${String(fields.groupId)}]` : ''}${fields.err ? ` ${JSON.stringify(fields.err).slice(0, 200)}` : ''}`;
      if (String(fields.msg) === last) {
        repeats++;
        continue;
      }
      if (repeats > 0) out.push(`  (repeated ${repeats} more times)`);
      last = String(fields.msg);
      repeats = 0;
      out.push(text);
    }
    if (repeats > 0) out.push(`  (repeated ${repeats} more times)`);
    console.error(`--- gateway warnings and errors for failed test "${t.name}" ---\n${out.slice(-120).join('\n')}`);
  };
}

/** A debug-level logger that keeps every line it writes in `logs`, for tests to read. */
export function capturingLogger(): { logger: Logger; logs: string[] } {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), logs };
}
