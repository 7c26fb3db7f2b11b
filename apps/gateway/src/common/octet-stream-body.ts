import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from './problem.exception.js';

/**
 * An upload's body, handed over unread (app.factory streams octet-stream bodies). Opened by the
 * service once the resource is found, so a stranger's id is a 404 whatever was sent.
 */
export function octetStreamBody(request: FastifyRequest, what: string): () => Readable {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return () => {
    if (type !== 'application/octet-stream')
      throw new ProblemException(
        'unsupported-media-type',
        `Send ${what} as application/octet-stream, got ${type || 'no content type'}`,
      );
    return request.body as Readable;
  };
}
