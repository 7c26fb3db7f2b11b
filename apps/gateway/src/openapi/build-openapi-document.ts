import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { problemSchema } from '@tessera/contracts';
import { zodToOpenApi } from './zod-openapi.converter.js';

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/**
 * The OpenAPI 3.1 document of the gateway, read from its controllers. Adds what every
 * operation shares: problem+json errors and, on POST, the Idempotency-Key header.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('Tessera API')
    .setDescription(
      'Train, compose and serve low-rank adapters on shared base models. Errors are RFC 9457 problem details; ' +
        'lists are cursor-paginated (limit, after → {data, has_more}); every POST accepts an Idempotency-Key.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key: tsk_…' })
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    standardSchemaConverter: zodToOpenApi,
    operationIdFactory: (_controller, method) => method,
  });

  const problem = zodToOpenApi(problemSchema, { schemaType: 'output' });
  document.components ??= {};
  document.components.schemas = { ...document.components.schemas, ...problem?.components };

  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item) as [string, Record<string, unknown>][]) {
      if (typeof operation !== 'object' || !operation || !('responses' in operation)) continue;
      operation.operationId = operationId(method, path);
      (operation.responses as Record<string, unknown>).default = {
        description: 'Problem details (RFC 9457)',
        content: { 'application/problem+json': { schema: PROBLEM_REF } },
      };
      if (method === 'post') {
        const parameters = (operation.parameters as unknown[] | undefined) ?? [];
        parameters.push({
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'Replays the first response for a retry with the same key and body; a secret shown once comes back as null',
          schema: { type: 'string', maxLength: 255 },
        });
        operation.parameters = parameters;
      }
    }
  }
  return document;
}

/** `get /v1/groups/{group_id}/members` → `getV1GroupsGroupIdMembers`: unique and stable. */
function operationId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}
