import { z } from 'zod';

/** One thing wrong with the input: `field` is a JSON-pointer-like path such as `body.scopes.0`. */
export const problemFieldErrorSchema = z
  .object({ field: z.string(), message: z.string() })
  .meta({ id: 'ProblemFieldError' });

/** RFC 9457 problem details, as every error of the API is sent (`application/problem+json`). */
export const problemSchema = z
  .object({
    type: z.string().describe('Stable identifier of the error kind, e.g. /problems/validation'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z.array(problemFieldErrorSchema).optional(),
    error: z
      .object({
        message: z.string(),
        type: z.string(),
        param: z.string().nullable(),
        code: z.string(),
      })
      .optional()
      .describe(
        "On the OpenAI-compatible routes (/v1/models, /v1/completions, /v1/chat/completions): the same error in OpenAI's shape, so OpenAI clients carry its message",
      ),
  })
  .meta({ id: 'Problem' });

export type Problem = z.infer<typeof problemSchema>;
export type ProblemFieldError = z.infer<typeof problemFieldErrorSchema>;

/** The error kinds. The `type` URI of each is `/problems/<kind>`; clients switch on it. */
export const PROBLEM_KINDS = {
  validation: { status: 400, title: 'The request is not valid' },
  'malformed-json': { status: 400, title: 'The request body is not valid JSON' },
  'forbidden-json-key': { status: 400, title: 'The request body holds a key that could alter object prototypes' },
  unauthenticated: { status: 401, title: 'Missing or invalid API key' },
  forbidden: { status: 403, title: 'The API key lacks the scope this needs' },
  'not-found': { status: 404, title: 'No such resource' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'The request conflicts with the current state' },
  'idempotency-in-flight': { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'uri-too-long': { status: 414, title: 'The request path is too long' },
  'unsupported-media-type': { status: 415, title: 'Unsupported content type' },
  'idempotency-mismatch': { status: 422, title: 'This Idempotency-Key was used with a different request' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  unavailable: { status: 503, title: 'A dependency is unavailable' },
  internal: { status: 500, title: 'Internal error' },
} as const;

export type ProblemKind = keyof typeof PROBLEM_KINDS;

export function problemType(kind: ProblemKind): string {
  return `/problems/${kind}`;
}
