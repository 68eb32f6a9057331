// Turns the first schema violation in an Anthropic request into a 400 that names the field and
// what was expected there. Unions are followed into the branch that got furthest, so a bad block
// deep in `messages[2].content` is reported there and not as "invalid input" on the message.
import type { z } from 'zod';
import { GatewayError } from '#libs/contracts/openai-error.ts';

type Issue = z.core.$ZodIssue;
type Path = PropertyKey[];

export function invalidRequest(issues: readonly Issue[], body: unknown): GatewayError {
  const { issue, path } = deepest(issues[0], []);
  const param = paramName(path);
  if (param !== null && readPath(body, path) === undefined) {
    return new GatewayError(400, `Missing required parameter: '${param}'.`, { param, code: 'missing_required_parameter' });
  }
  const where = param === null ? 'the request body' : `'${param}'`;
  return new GatewayError(400, `Invalid value for ${where}: ${expectation(issue)}.`, { param, code: 'invalid_value' });
}

/** The issue to report and its full path, descending through failed unions. */
function deepest(issue: Issue, base: Path): { issue: Issue; path: Path } {
  const path = [...base, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { issue, path };
  // A branch whose first issue sits at the union itself failed on the value's kind (a string
  // branch given an array); the branch with the longest path is the one the client meant.
  let best: Issue | undefined;
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first !== undefined && first.path.length > 0 && (best === undefined || first.path.length > best.path.length)) best = first;
  }
  return best === undefined ? { issue, path } : deepest(best, path);
}

function expectation(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.expected === 'int') return 'expected an integer';
      const noun = issue.expected === 'record' ? 'object' : issue.expected;
      return `expected ${article(noun)} ${noun}`;
    }
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'too_small':
      if (issue.origin === 'array') return `expected at least ${String(issue.minimum)} item${issue.minimum === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return issue.minimum === 1 ? 'expected a non-empty string' : `expected at least ${String(issue.minimum)} characters`;
      return `expected a number ${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.origin === 'array') return `expected at most ${String(issue.maximum)} items`;
      if (issue.origin === 'string') return `expected at most ${String(issue.maximum)} characters`;
      return `expected a number ${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}`;
    case 'invalid_union':
      if (issue.discriminator !== undefined && 'options' in issue && issue.options !== undefined) {
        return `expected ${issue.options.map((v) => JSON.stringify(v)).join(' or ')}`;
      }
      // Every branch failed on the value's kind: "expected a string or an array".
      if (issue.errors.length > 0) {
        const alternatives = issue.errors.flatMap((branch) => (branch[0] === undefined ? [] : [expectation(branch[0]).replace(/^expected /, '')]));
        return `expected ${[...new Set(alternatives)].join(' or ')}`;
      }
      return issue.message;
    default:
      return issue.message;
  }
}

function article(noun: string): string {
  return /^[aeiou]/.test(noun) ? 'an' : 'a';
}

/** `messages[0].content[1].type`, as the OpenAI surface names parameters. */
function paramName(path: Path): string | null {
  if (path.length === 0) return null;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function readPath(value: unknown, path: Path): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
