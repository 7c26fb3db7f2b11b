import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import canonicalize from 'canonicalize';
import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Redis } from 'ioredis';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { from, mergeMap, catchError, of, throwError, type Observable } from 'rxjs';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { ProblemException } from './problem.exception.js';
import { REDIS } from './redis.provider.js';
import { SHOWN_ONCE_FIELDS, withoutShownOnce } from './shown-once.decorator.js';

/** How long a first request may run before a retry with its key is let through again. */
const IN_FLIGHT_TTL_SECONDS = 60;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

type StoredRequest =
  { state: 'in_flight'; fingerprint: string } | { state: 'done'; fingerprint: string; body: unknown };

/**
 * `Idempotency-Key` on POST: the first request with a key runs, its 2xx response is kept
 * (per API key, in Redis) and replayed for the same key and body with
 * `Idempotency-Replay: true`. Same key, other body: 422. Same key while the first still
 * runs: 409. A first request that fails releases its key so that a corrected retry runs.
 * Fields a route marks `@ShownOnce` are kept as null: a secret is never stored nor replayed.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly reflector: Reflector,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers['idempotency-key'];
    if (request.method !== 'POST' || header === undefined) return next.handle();
    if (typeof header !== 'string' || !KEY_PATTERN.test(header)) {
      throw new ProblemException('validation', 'Idempotency-Key must be 1–255 visible ASCII characters', [
        { field: 'header.Idempotency-Key', message: 'must be 1–255 visible ASCII characters' },
      ]);
    }
    const storeKey = `idempotency:${request.credentialId ?? 'anonymous'}:${sha256(header)}`;
    const fingerprint = sha256(`${request.method} ${request.url}\n${canonicalBody(request.body)}`);

    const inFlight: StoredRequest = { state: 'in_flight', fingerprint };
    const claimed = await this.redis.set(storeKey, JSON.stringify(inFlight), 'EX', IN_FLIGHT_TTL_SECONDS, 'NX');
    if (!claimed) return of(await this.replay(storeKey, fingerprint, context));

    const shownOnce = this.reflector.getAllAndOverride<string[] | undefined>(SHOWN_ONCE_FIELDS, [
      context.getHandler(),
      context.getClass(),
    ]);
    return next.handle().pipe(
      mergeMap(async (body) => {
        // A streamed answer (server-sent events) cannot be replayed: the key is released.
        if (body instanceof Readable) {
          await this.redis.del(storeKey);
          return body;
        }
        const kept = shownOnce ? withoutShownOnce(body, shownOnce) : body;
        const done: StoredRequest = { state: 'done', fingerprint, body: kept };
        await this.redis.set(storeKey, JSON.stringify(done), 'EX', this.config.IDEMPOTENCY_TTL_SECONDS);
        return body;
      }),
      catchError((error: unknown) => from(this.redis.del(storeKey)).pipe(mergeMap(() => throwError(() => error)))),
    );
  }

  private async replay(storeKey: string, fingerprint: string, context: ExecutionContext): Promise<unknown> {
    const raw = await this.redis.get(storeKey);
    // Expired or released between our SET and GET: the client should simply retry.
    if (!raw)
      throw new ProblemException('idempotency-in-flight', 'The first request with this key just finished; retry');
    const stored = JSON.parse(raw) as StoredRequest;
    if (stored.fingerprint !== fingerprint) {
      throw new ProblemException(
        'idempotency-mismatch',
        'This Idempotency-Key was first used with another method, path or body',
      );
    }
    if (stored.state === 'in_flight') {
      throw new ProblemException(
        'idempotency-in-flight',
        'The first request with this Idempotency-Key is still running',
      );
    }
    // The status is the route's own (Nest sets it), the same the first response had.
    void context.switchToHttp().getResponse<FastifyReply>().header('idempotency-replay', 'true');
    return stored.body;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Deeper bodies are refused before anything recurses into them (no API body nests past a few levels). */
const MAX_JSON_DEPTH = 64;

/**
 * The request body as RFC 8785 canonical JSON (the `canonicalize` package), so `{a,b}` and
 * `{b,a}` are the same request. Only JSON bodies are fingerprinted: a stream or raw bytes (an
 * upload sent to a JSON route) is refused, and so is a body nested past MAX_JSON_DEPTH,
 * measured without recursion since canonicalize recurses.
 */
function canonicalBody(body: unknown): string {
  if (body === undefined) return '';
  const plain =
    body === null ||
    typeof body !== 'object' ||
    Array.isArray(body) ||
    [Object.prototype, null].includes(Object.getPrototypeOf(body));
  if (!plain) {
    throw new ProblemException(
      'unsupported-media-type',
      'Idempotency-Key is for requests with a JSON body (application/json)',
    );
  }
  if (jsonDepth(body) > MAX_JSON_DEPTH) {
    throw new ProblemException('validation', `The body nests deeper than ${MAX_JSON_DEPTH} levels`, [
      { field: 'body', message: `nested deeper than ${MAX_JSON_DEPTH} levels` },
    ]);
  }
  try {
    return canonicalize(body) ?? '';
  } catch (error) {
    throw new ProblemException(
      'validation',
      `The body cannot be canonicalised for Idempotency-Key: ${(error as Error).message}`,
      [{ field: 'body', message: (error as Error).message }],
    );
  }
}

/** How deeply arrays and objects nest in a parsed JSON value, walked with an explicit stack. */
function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_JSON_DEPTH) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}
