import type { FastifyReply, FastifyRequest } from 'fastify';
import { allowedMethods } from './allowed-methods.js';
import { isOpenAiRoute, openAiError } from './openai-error.js';
import { ProblemException } from './problem.exception.js';
import { toProblem } from './to-problem.util.js';

/** Paths longer than this are not echoed back as the problem's `instance` (a 414's would be the whole URL). */
const MAX_INSTANCE_LENGTH = 256;

/**
 * Writes `error` as problem+json; shared by the Nest filter and Fastify's own error handlers.
 * A path no route serves for this method but some route serves for others is a 405 with `Allow`.
 */
export function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0] ?? '/';
  const allow = request.is404 ? allowedMethods(request.server, path) : [];
  const shown =
    allow.length > 0
      ? new ProblemException(
          'method-not-allowed',
          `${request.method} is not allowed here; ${allow.join(', ')} are`,
          [],
          {
            allow: allow.join(', '),
          },
        )
      : error;
  const { problem, headers, internal } = toProblem(
    shown,
    String(request.id),
    path.length <= MAX_INSTANCE_LENGTH ? path : undefined,
  );
  if (isOpenAiRoute(path)) problem.error = openAiError(problem);
  if (internal) request.log.error({ err: error }, 'unhandled error');
  void reply.status(problem.status).headers(headers).type('application/problem+json').send(problem);
}
