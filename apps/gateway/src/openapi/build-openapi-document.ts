import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { problemSchema } from '@tessera/contracts';
import { zodToOpenApi } from './zod-openapi.converter.js';

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/** The error statuses an operation can answer, each a shared response in components. */
const PROBLEM_RESPONSES: Record<string, string> = {
  400: 'The request is not valid: a field, a parameter or the JSON body (problem+json names it)',
  401: 'Missing, unknown, revoked or expired API key',
  403: 'The key lacks the scope, or is a tenant key on a platform route',
  404: 'No such resource (another tenant’s or another group’s is the same 404)',
  409: 'Conflicts with the current state, or a request with this Idempotency-Key is still running',
  413: 'The body is larger than the limit',
  415: 'The body’s content type is not one this operation takes',
  422: 'This Idempotency-Key was used with a different body',
  429: 'Rate limit reached; Retry-After says when to come back',
  503: 'Postgres or Redis is unreachable, or every database connection stayed busy; retry after Retry-After',
};

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
    .addServer('/', 'The gateway that serves this document')
    .build();
  config.info.license = { name: 'Proprietary: all rights reserved' };
  config.info.contact = { name: 'Tessera platform team' };
  const document = SwaggerModule.createDocument(app, config, {
    standardSchemaConverter: zodToOpenApi,
    operationIdFactory: (_controller, method) => method,
  });

  const problem = zodToOpenApi(problemSchema, { schemaType: 'output' });
  document.components ??= {};
  document.components.schemas = { ...document.components.schemas, ...problem?.components };
  document.components.responses = Object.fromEntries(
    Object.entries(PROBLEM_RESPONSES).map(([status, description]) => [
      `Problem${status}`,
      { description, content: { 'application/problem+json': { schema: PROBLEM_REF } } },
    ]),
  );

  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item) as [string, Record<string, unknown>][]) {
      if (typeof operation !== 'object' || !operation || !('responses' in operation)) continue;
      operation.operationId = operationId(method, path);
      // Public routes say so: no key is needed.
      operation.security ??= [];
      const responses = operation.responses as Record<string, unknown>;
      for (const status of errorStatuses(method, path, operation))
        responses[status] ??= { $ref: `#/components/responses/Problem${status}` };
      responses.default = {
        description: 'Problem details (RFC 9457) of an unexpected error (500)',
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

/**
 * What an operation can answer besides success, from what it takes: a key (401, 403, 429), input
 * to validate (400), a path id (404), a body (413, 415), an Idempotency-Key (409, 422), and
 * Postgres or Redis behind every route but liveness.
 */
function errorStatuses(method: string, path: string, operation: Record<string, unknown>): string[] {
  const secured = (operation.security as unknown[]).length > 0;
  const takesInput =
    Boolean(operation.requestBody) || ((operation.parameters as unknown[] | undefined)?.length ?? 0) > 0;
  return [
    ...(takesInput ? ['400'] : []),
    ...(secured ? ['401', '403'] : []),
    ...(path.includes('{') ? ['404'] : []),
    ...(method === 'post' ? ['409'] : []),
    ...(operation.requestBody ? ['413', '415'] : []),
    ...(method === 'post' ? ['422'] : []),
    ...(secured ? ['429'] : []),
    ...(path === '/healthz' ? [] : ['503']),
  ];
}

/** `get /v1/groups/{group_id}/members` → `getV1GroupsGroupIdMembers`: unique and stable. */
function operationId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}
