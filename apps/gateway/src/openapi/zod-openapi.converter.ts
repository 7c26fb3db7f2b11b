import type { StandardSchemaConversionResult } from '@nestjs/swagger';
import { z } from 'zod';

const DEFS = '#/$defs/';
const COMPONENTS = '#/components/schemas/';

/**
 * Turns our zod contracts into OpenAPI 3.1 schemas (JSON Schema 2020-12). Schemas with a
 * `meta({ id })` become named components, so the generated SDK has named types.
 */
export function zodToOpenApi(
  schema: unknown,
  options: { schemaType: 'input' | 'output' },
): StandardSchemaConversionResult | undefined {
  if (!(schema instanceof z.ZodType)) return undefined;
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: options.schemaType,
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  const { $schema: _dialect, $defs, ...root } = json;
  return {
    schema: rewriteRefs(root),
    components: Object.fromEntries(
      Object.entries(($defs ?? {}) as Record<string, unknown>).map(([k, v]) => [k, rewriteRefs(v)]),
    ),
  };
}

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [
      key,
      key === '$ref' && typeof v === 'string' && v.startsWith(DEFS)
        ? COMPONENTS + v.slice(DEFS.length)
        : rewriteRefs(v),
    ]),
  );
}
