import { HttpException } from '@nestjs/common';
import { isDatabaseOutage, isDatabasePoolExhausted } from '@tessera/db';
import { isRedisOutage } from '@tessera/queue';
import { PROBLEM_KINDS, problemType, type Problem, type ProblemKind } from '@tessera/contracts';
import { ProblemException } from './problem.exception.js';

export interface RenderedProblem {
  problem: Problem;
  headers: Record<string, string>;
}

/**
 * Fastify's own errors (body parsing, limits, the router) carry a code; map them to our kinds.
 * The router's messages quote the path, which a problem does not echo: those get our own detail.
 */
const FASTIFY_CODES: Record<string, { kind: ProblemKind; detail?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { kind: 'malformed-json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { kind: 'malformed-json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { kind: 'payload-too-large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { kind: 'unsupported-media-type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { kind: 'validation' },
  FST_ERR_MAX_PARAM_LENGTH: { kind: 'uri-too-long', detail: 'A path segment is longer than 100 characters' },
  FST_ERR_BAD_URL: { kind: 'validation', detail: 'The path is not a valid URL (bad percent-encoding)' },
};

/** Prisma's known request errors that bad input can cause. */
const PRISMA_CODES: Record<string, { kind: ProblemKind; detail: string }> = {
  P2002: { kind: 'conflict', detail: 'A resource with these unique fields already exists' },
  P2003: { kind: 'conflict', detail: 'The change refers to, or is referred to by, another resource' },
  P2025: { kind: 'not-found', detail: 'The resource does not exist' },
};

const STATUS_KINDS: Record<number, ProblemKind> = {
  400: 'validation',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  409: 'conflict',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
  422: 'idempotency-mismatch',
  429: 'rate-limited',
};

function render(kind: ProblemKind, detail: string | undefined, extra: Partial<Problem> = {}): Problem {
  const { status, title } = PROBLEM_KINDS[kind];
  return { type: problemType(kind), title, status, ...(detail ? { detail } : {}), ...extra };
}

/**
 * Turns anything thrown while serving a request into problem details. Unknown errors
 * become a 500 without their message (it may hold internals); the caller logs them.
 */
export function toProblem(
  error: unknown,
  requestId: string,
  /** The request's path; undefined leaves it out. */
  instance: string | undefined,
): RenderedProblem & { internal: boolean } {
  const base = { request_id: requestId, ...(instance === undefined ? {} : { instance }) };
  if (error instanceof ProblemException) {
    return {
      problem: render(error.kind, error.detail, { ...base, ...(error.errors ? { errors: error.errors } : {}) }),
      headers: error.headers,
      internal: false,
    };
  }
  const code = errorCode(error);
  if (typeof code === 'string' && FASTIFY_CODES[code]) {
    const { kind, detail } = FASTIFY_CODES[code];
    return { problem: render(kind, detail ?? (error as Error).message, base), headers: {}, internal: false };
  }
  if (typeof code === 'string' && PRISMA_CODES[code]) {
    const { kind, detail } = PRISMA_CODES[code];
    return { problem: render(kind, detail, base), headers: {}, internal: false };
  }
  if (error instanceof HttpException) {
    const kind = STATUS_KINDS[error.getStatus()];
    if (kind) return { problem: render(kind, error.message, base), headers: {}, internal: false };
  }
  if (isDependencyOutage(error)) {
    return {
      problem: render(
        'unavailable',
        isDatabasePoolExhausted(error)
          ? 'Every database connection stayed busy past the wait limit (the service is overloaded, or Postgres stopped answering); retry shortly'
          : 'Postgres or Redis is unreachable; retry shortly',
        base,
      ),
      headers: { 'retry-after': '5' },
      internal: true,
    };
  }
  const statusCode = (error as { statusCode?: unknown })?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    const kind = STATUS_KINDS[statusCode] ?? 'validation';
    return {
      problem: render(kind, (error as Error).message, { ...base, status: statusCode }),
      headers: {},
      internal: false,
    };
  }
  return { problem: render('internal', undefined, base), headers: {}, internal: true };
}

/** Nest wraps Fastify's errors in an HttpException; the original code survives on it or its cause. */
function errorCode(error: unknown): unknown {
  const e = error as { code?: unknown; errorCode?: unknown; cause?: { code?: unknown } } | null;
  return e?.code ?? e?.errorCode ?? e?.cause?.code;
}

/** A dependency is down or hung (not the caller's fault): 503 with Retry-After rather than 500. */
function isDependencyOutage(error: unknown): boolean {
  return isDatabaseOutage(error) || isRedisOutage(error);
}
