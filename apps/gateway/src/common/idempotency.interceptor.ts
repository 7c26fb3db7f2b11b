import { createHash } from 'node:crypto';
import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { from, mergeMap, catchError, of, throwError, type Observable } from 'rxjs';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { ProblemException } from './problem.exception.js';
import { REDIS } from './redis.provider.js';

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
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
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
    const fingerprint = sha256(`${request.method} ${request.url}\n${canonicalJson(request.body)}`);

    const inFlight: StoredRequest = { state: 'in_flight', fingerprint };
    const claimed = await this.redis.set(storeKey, JSON.stringify(inFlight), 'EX', IN_FLIGHT_TTL_SECONDS, 'NX');
    if (!claimed) return of(await this.replay(storeKey, fingerprint, context));

    return next.handle().pipe(
      mergeMap(async (body) => {
        const done: StoredRequest = { state: 'done', fingerprint, body };
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

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` are the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
