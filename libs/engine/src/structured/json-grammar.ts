/**
 * The JSON a structured-output request may produce, compiled from its JSON Schema into a small
 * grammar the byte automaton walks (json-automaton.ts). Output is compact JSON (no whitespace
 * between tokens) with an object's properties in the schema's order, as OpenAI's structured
 * outputs write them. Keywords outside the supported subset are refused by name: a schema the
 * decoder cannot honour must never be half-honoured.
 */
export type JsonGrammar =
  | { kind: 'any' }
  | { kind: 'literal'; text: string }
  | { kind: 'string'; minLength: number; maxLength: number }
  | { kind: 'number'; integer: boolean }
  /** Closed: exactly the properties listed, in this order, the required ones always present. */
  | { kind: 'object'; properties: readonly GrammarProperty[] }
  /** Open: any keys, any values (`{type: "object"}` without properties, and json_object mode). */
  | { kind: 'anyObject' }
  | { kind: 'array'; items: JsonGrammar; minItems: number; maxItems: number }
  | { kind: 'union'; options: readonly JsonGrammar[] };

export interface GrammarProperty {
  key: string;
  /** The key as it is written between its quotes (JSON-escaped). */
  text: string;
  grammar: JsonGrammar;
  required: boolean;
}

/** A schema keyword (or value) the decoder cannot enforce, with where it stands. */
export class UnsupportedSchemaError extends Error {
  constructor(
    readonly keyword: string,
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

/** Keywords that only describe: kept out of the grammar, never refused. */
const ANNOTATIONS = new Set([
  'title',
  'description',
  '$schema',
  '$id',
  '$comment',
  'default',
  'examples',
  'deprecated',
]);
/** Keywords the grammar enforces. Anything else is refused by name. */
const SUPPORTED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'enum',
  'const',
  'anyOf',
]);

/** Bounds the compiler's recursion (a 64 KiB schema could nest thousands of levels). */
const MAX_PATH_SEGMENTS = 64;

/** `{type: "json_object"}` mode: any JSON object. */
export const ANY_OBJECT: JsonGrammar = { kind: 'anyObject' };

/** Compiles a JSON Schema (already checked as a schema by ajv) into the grammar, or refuses a keyword by name. */
export function compileJsonSchema(schema: unknown, path = '#'): JsonGrammar {
  if (path.split('/').length > MAX_PATH_SEGMENTS)
    throw new UnsupportedSchemaError('depth', path, `schemas nest at most ${MAX_PATH_SEGMENTS} path segments deep`);
  if (schema === true || (isRecord(schema) && Object.keys(schema).every((k) => ANNOTATIONS.has(k))))
    return { kind: 'any' };
  if (!isRecord(schema)) throw new UnsupportedSchemaError('schema', path, 'a schema must be an object or true');
  for (const keyword of Object.keys(schema)) {
    if (!SUPPORTED.has(keyword) && !ANNOTATIONS.has(keyword))
      throw new UnsupportedSchemaError(keyword, path, `the keyword "${keyword}" is not supported`);
  }
  if (schema.const !== undefined) return literal(schema.const);
  if (schema.enum !== undefined) {
    if (!Array.isArray(schema.enum) || schema.enum.length === 0)
      throw new UnsupportedSchemaError('enum', path, 'enum must be a non-empty array');
    return union(schema.enum.map(literal));
  }
  if (schema.anyOf !== undefined) {
    if (!Array.isArray(schema.anyOf) || schema.anyOf.length === 0)
      throw new UnsupportedSchemaError('anyOf', path, 'anyOf must be a non-empty array');
    if (schema.type !== undefined)
      throw new UnsupportedSchemaError(
        'anyOf',
        path,
        'anyOf beside type is not supported: put the type in each branch',
      );
    return union(schema.anyOf.map((branch, i) => compileJsonSchema(branch, `${path}/anyOf/${i}`)));
  }
  const types = schema.type === undefined ? inferTypes(schema) : [schema.type].flat();
  if (types.length === 0 || types.some((t) => typeof t !== 'string'))
    throw new UnsupportedSchemaError('type', path, 'type must be a type name or a non-empty array of them');
  return union(types.map((type) => compileType(type as string, schema, path)));
}

function compileType(type: string, schema: Record<string, unknown>, path: string): JsonGrammar {
  switch (type) {
    case 'null':
      return { kind: 'literal', text: 'null' };
    case 'boolean':
      return union([
        { kind: 'literal', text: 'true' },
        { kind: 'literal', text: 'false' },
      ]);
    case 'integer':
    case 'number':
      return { kind: 'number', integer: type === 'integer' };
    case 'string': {
      const minLength = count(schema, 'minLength', path, 0);
      const maxLength = count(schema, 'maxLength', path, Infinity);
      if (minLength > maxLength) throw new UnsupportedSchemaError('minLength', path, 'minLength exceeds maxLength');
      return { kind: 'string', minLength, maxLength };
    }
    case 'array': {
      const minItems = count(schema, 'minItems', path, 0);
      const maxItems = count(schema, 'maxItems', path, Infinity);
      if (minItems > maxItems) throw new UnsupportedSchemaError('minItems', path, 'minItems exceeds maxItems');
      const items =
        schema.items === undefined ? { kind: 'any' as const } : compileJsonSchema(schema.items, `${path}/items`);
      return { kind: 'array', items, minItems, maxItems };
    }
    case 'object': {
      const properties = schema.properties ?? {};
      if (!isRecord(properties)) throw new UnsupportedSchemaError('properties', path, 'properties must be an object');
      const required = schema.required ?? [];
      if (!Array.isArray(required) || required.some((key) => typeof key !== 'string'))
        throw new UnsupportedSchemaError('required', path, 'required must be an array of property names');
      const missing = required.find((key) => !(key in properties));
      if (missing !== undefined)
        throw new UnsupportedSchemaError(
          'required',
          path,
          `required names "${missing}", which properties do not declare`,
        );
      const extra = schema.additionalProperties;
      if (extra !== undefined && typeof extra !== 'boolean')
        throw new UnsupportedSchemaError('additionalProperties', path, 'additionalProperties must be true or false');
      // Declared properties only: valid whether additional ones are allowed or not.
      if (Object.keys(properties).length === 0 && extra !== false) return { kind: 'anyObject' };
      return {
        kind: 'object',
        properties: Object.entries(properties).map(([key, value]) => ({
          key,
          text: JSON.stringify(key).slice(1, -1),
          grammar: compileJsonSchema(value, `${path}/properties/${jsonPointerToken(key)}`),
          required: required.includes(key),
        })),
      };
    }
    default:
      throw new UnsupportedSchemaError('type', path, `"${type}" is not a JSON Schema type`);
  }
}

/** The shortest JSON text the grammar admits, in bytes. */
export function shortestLength(grammar: JsonGrammar): number {
  switch (grammar.kind) {
    case 'any':
      return 1;
    case 'literal':
      return Buffer.byteLength(grammar.text);
    case 'string':
      return 2 + grammar.minLength;
    case 'number':
      return 1;
    case 'anyObject':
      return 2;
    case 'object':
      return 1 + objectRest(grammar, 0, true);
    case 'array':
      return grammar.minItems === 0 ? 2 : 2 + grammar.minItems * (shortestLength(grammar.items) + 1) - 1;
    case 'union':
      return Math.min(...grammar.options.map(shortestLength));
  }
}

/**
 * The fewest bytes that close an object whose next candidate property is `next`: every
 * required property from there on, with its commas, then `}`. `first`: no property written yet.
 */
export function objectRest(grammar: Extract<JsonGrammar, { kind: 'object' }>, next: number, first: boolean): number {
  let bytes = 1;
  let written = !first;
  for (const property of grammar.properties.slice(next)) {
    if (!property.required) continue;
    bytes += propertyLength(property) + (written ? 1 : 0);
    written = true;
  }
  return bytes;
}

/** `"key":value` at its shortest. */
export function propertyLength(property: GrammarProperty): number {
  return Buffer.byteLength(property.text) + 3 + shortestLength(property.grammar);
}

function literal(value: unknown): JsonGrammar {
  return { kind: 'literal', text: JSON.stringify(value) };
}

function union(options: JsonGrammar[]): JsonGrammar {
  return options.length === 1 ? options[0]! : { kind: 'union', options };
}

function inferTypes(schema: Record<string, unknown>): string[] {
  if (schema.properties !== undefined || schema.required !== undefined || schema.additionalProperties !== undefined)
    return ['object'];
  if (schema.items !== undefined || schema.minItems !== undefined || schema.maxItems !== undefined) return ['array'];
  if (schema.minLength !== undefined || schema.maxLength !== undefined) return ['string'];
  return ['null', 'boolean', 'number', 'string', 'array', 'object'];
}

function count(schema: Record<string, unknown>, keyword: string, path: string, fallback: number): number {
  const value = schema[keyword];
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 0)
    throw new UnsupportedSchemaError(keyword, path, `${keyword} must be a non-negative integer`);
  return value as number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function jsonPointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
