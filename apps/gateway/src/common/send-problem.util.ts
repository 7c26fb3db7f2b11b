import type { FastifyReply, FastifyRequest } from 'fastify';
import { toProblem } from './to-problem.util.js';

/** Writes `error` as problem+json; shared by the Nest filter and Fastify's own error handlers. */
export function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { problem, headers, internal } = toProblem(error, String(request.id), request.url.split('?')[0] ?? '/');
  if (internal) request.log.error({ err: error }, 'unhandled error');
  void reply.status(problem.status).headers(headers).type('application/problem+json').send(problem);
}
