// Writes schemas/*.schema.json, the JSON Schema of the Kafka-native contract, from the zod schemas
// in libs/contracts/envelope.ts; with --check it writes nothing and fails naming any stale file.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { envelopeVersion, liveEventSchema, requestEnvelopeSchema, resultEnvelopeSchema } from '#libs/contracts/envelope.ts';
import { usageEventSchema } from '#libs/contracts/usage.ts';
import { auditEventSchema } from '#libs/contracts/audit.ts';

export const schemasDir = fileURLToPath(new URL('../schemas/', import.meta.url));

export interface SchemaFile {
  file: string;
  schema: z.ZodType;
  /** 'input' for what a producer writes (defaults may be left out), 'output' for what Spillway writes. */
  io: 'input' | 'output';
  title: string;
  description: string;
}

export const schemaFiles: SchemaFile[] = [
  {
    file: 'request-envelope.schema.json',
    schema: requestEnvelopeSchema,
    io: 'input',
    title: 'Spillway request envelope',
    description:
      'One LLM request, as a producer writes it to <prefix>.requests.interactive or <prefix>.requests.batch, keyed by its id. ' +
      'Fields with a default may be left out; Spillway applies the default. See docs/kafka-native.md.',
  },
  {
    file: 'result-envelope.schema.json',
    schema: resultEnvelopeSchema,
    io: 'output',
    title: 'Spillway result envelope',
    description: 'The answer to one request, as Spillway writes it to <prefix>.results, keyed by the request id. See docs/kafka-native.md.',
  },
  {
    file: 'live-event.schema.json',
    schema: liveEventSchema,
    io: 'output',
    title: 'Spillway live event',
    description: 'One event of a request\'s live stream (a delta, then one done or error event carrying the result envelope), as Spillway publishes it through Redis.',
  },
  {
    file: 'usage-event.schema.json',
    schema: usageEventSchema,
    io: 'output',
    title: 'Spillway usage event',
    description: 'What one answered request used and cost, as workers write it to <prefix>.usage, keyed by the request id. Budgets are counted from it once per id. See docs/kafka-native.md.',
  },
  {
    file: 'audit-event.schema.json',
    schema: auditEventSchema,
    io: 'output',
    title: 'Spillway audit event',
    description: 'One admin action or key lifecycle event, as Spillway appends it to <prefix>.audit (kept for good), keyed by <kind>:<id> of the account. Never carries a key secret or digest.',
  },
];

/** The file's text: the generated schema with its identity first, two-space indented, one trailing newline. */
export function renderSchema(entry: SchemaFile): string {
  const { $schema, ...body } = z.toJSONSchema(entry.schema, { io: entry.io });
  const name = entry.file.replace(/\.schema\.json$/, '');
  const document = { $schema, $id: `urn:spillway:schema:${name}:v${envelopeVersion}`, title: entry.title, description: entry.description, ...body };
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** The files in dir that are missing or differ from what the zod schemas generate. */
export async function staleSchemaFiles(dir: string = schemasDir): Promise<string[]> {
  const stale: string[] = [];
  for (const entry of schemaFiles) {
    const shipped = await readFile(join(dir, entry.file), 'utf8').catch(() => undefined);
    if (shipped !== renderSchema(entry)) stale.push(entry.file);
  }
  return stale;
}

export async function writeSchemaFiles(dir: string = schemasDir): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const entry of schemaFiles) await writeFile(join(dir, entry.file), renderSchema(entry));
}

async function main(args: string[]): Promise<number> {
  if (args.includes('--check')) {
    const stale = await staleSchemaFiles();
    for (const file of stale) console.error(`schemas/${file} is stale: it differs from libs/contracts/envelope.ts; run \`npm run schemas\``);
    return stale.length > 0 ? 1 : 0;
  }
  await writeSchemaFiles();
  for (const entry of schemaFiles) console.log(`wrote schemas/${entry.file}`);
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
