// Gemini's Schema is an OpenAPI subset and rejects any field it does not know (additionalProperties,
// $schema, strict, …) with a 400, so the conversion keeps known fields rather than dropping bad ones.
import { isRecord } from '../http.ts';

type Json = Record<string, unknown>;

const keptSchemaFields = new Set([
  'type', 'title', 'description', 'nullable', 'maxItems', 'minItems', 'required', 'minProperties', 'maxProperties',
  'minLength', 'maxLength', 'pattern', 'example', 'propertyOrdering', 'default', 'minimum', 'maximum',
]);
const keptFormats = new Set(['enum', 'date-time', 'int32', 'int64', 'float', 'double']);
const maxRefDepth = 8;

/** A JSON Schema as Gemini accepts it: local $refs inlined, type unions as nullable or anyOf. */
export function toGeminiSchema(schema: unknown): Json | undefined {
  if (!isRecord(schema)) return undefined;
  const defs = { ...(isRecord(schema.definitions) ? schema.definitions : {}), ...(isRecord(schema.$defs) ? schema.$defs : {}) };
  return convertSchema(schema, defs, 0);
}

function convertSchema(node: Json, defs: Json, depth: number): Json {
  if (typeof node.$ref === 'string') {
    const target = defs[node.$ref.replace(/^#\/(\$defs|definitions)\//, '')];
    if (depth < maxRefDepth && isRecord(target)) return convertSchema({ ...target, ...withoutRef(node) }, defs, depth + 1);
    return { type: 'object' };
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && isRecord(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, isRecord(sub) ? convertSchema(sub, defs, depth) : {}]));
    } else if (key === 'items' && isRecord(value)) out.items = convertSchema(value, defs, depth);
    else if ((key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) Object.assign(out, unionOf(value, defs, depth));
    else if (key === 'enum' || key === 'const') Object.assign(out, enumOf(key === 'const' ? [value] : value));
    else if (key === 'type' && Array.isArray(value)) Object.assign(out, typeUnion(value));
    else if (key === 'format') {
      if (typeof value === 'string' && keptFormats.has(value)) out.format = value;
    } else if (keptSchemaFields.has(key)) out[key] = value;
  }
  return out;
}

function withoutRef(node: Json): Json {
  const rest: Json = { ...node };
  delete rest.$ref;
  return rest;
}

/** `anyOf: [X, {type: null}]` (how Pydantic writes Optional) is X made nullable. */
function unionOf(members: unknown[], defs: Json, depth: number): Json {
  const nonNull = members.filter((m): m is Json => isRecord(m) && m.type !== 'null');
  const nullable = nonNull.length < members.length;
  const converted = nonNull.map((m) => convertSchema(m, defs, depth));
  const out: Json = converted.length === 1 ? { ...converted[0] } : { anyOf: converted };
  if (nullable) out.nullable = true;
  return out;
}

/** Gemini takes string enums only: null becomes nullable, and an enum of other values is left out rather than refused. */
function enumOf(values: unknown): Json {
  if (!Array.isArray(values)) return {};
  const nonNull = values.filter((v) => v !== null);
  const out: Json = nonNull.length > 0 && nonNull.every((v) => typeof v === 'string') ? { enum: nonNull } : {};
  if (nonNull.length < values.length) out.nullable = true;
  return out;
}

function typeUnion(types: unknown[]): Json {
  const nonNull = types.filter((t) => t !== 'null');
  const out: Json = nonNull.length === 1 ? { type: nonNull[0] } : { anyOf: nonNull.map((type) => ({ type })) };
  if (nonNull.length < types.length) out.nullable = true;
  return out;
}
