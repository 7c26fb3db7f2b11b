import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { ApiKeyScope } from '@tessera/contracts';
import { Database } from '@tessera/db';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { hashApiKeySecret, looksLikeApiKeySecret } from './api-key-secret.util.js';
import { ApiKeyCache } from './api-key-cache.js';
import { hasScope } from './caller.js';
import { ProblemException } from './problem.exception.js';
import { RateLimiter } from './rate-limiter.service.js';
import { ROUTE_ACCESS, type RouteAccess } from './route-access.decorator.js';

/** last_used_at is written at most this often per key and process: it is a hint, not a log. */
const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/**
 * Authenticates the Bearer key, checks the route's scope, then charges the key's rate
 * limit. Routes without an access decorator are refused: forgetting one fails closed.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = new Logger(AuthGuard.name);
  private readonly platformKeyHash: Buffer;
  private readonly lastUsedWrites = new Map<string, number>();

  constructor(
    private readonly reflector: Reflector,
    private readonly database: Database,
    private readonly rateLimiter: RateLimiter,
    private readonly keys: ApiKeyCache,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    this.platformKeyHash = createHash('sha256').update(config.PLATFORM_ADMIN_KEY).digest();
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = this.reflector.getAllAndOverride<RouteAccess | undefined>(ROUTE_ACCESS, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!access)
      throw new Error(`route ${context.getClass().name}.${context.getHandler().name} declares no access rule`);
    if (access.kind === 'public') return true;

    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const secret = bearerToken(request);

    if (access.kind === 'platform') {
      if (!this.isPlatformKey(secret)) {
        // A valid tenant key is known but not allowed here (403); anything else is not a key (401).
        await this.tenantKey(secret);
        throw new ProblemException(
          'forbidden',
          'This route needs the platform admin key; a tenant API key cannot call it',
        );
      }
      request.credentialId = 'platform';
      await this.chargeRateLimit(reply, 'platform', this.config.RATE_LIMIT_PER_MINUTE);
      return true;
    }

    const key = await this.tenantKey(secret);
    const scopes = key.scopes as ApiKeyScope[];
    if (access.scope && !hasScope(scopes, access.scope)) {
      throw new ProblemException(
        'forbidden',
        `This route needs the "${access.scope}" scope; the key has: ${scopes.join(', ')}`,
      );
    }
    await this.chargeRateLimit(reply, key.id, key.rateLimitPerMinute ?? this.config.RATE_LIMIT_PER_MINUTE);
    request.credentialId = key.id;
    request.caller = {
      tenantId: key.tenantId,
      apiKeyId: key.id,
      principalId: key.principalId,
      scopes,
      groupIds: key.groupIds,
    };
    this.noteLastUsed(key.tenantId, key.id);
    return true;
  }

  /** The live tenant API key `secret` is, or 401 saying why it is not one. */
  private async tenantKey(secret: string) {
    if (!looksLikeApiKeySecret(secret)) throw unauthenticated('The Authorization header does not hold a tsk_ API key');
    const hash = hashApiKeySecret(secret);
    const key = await this.keys.get(hash, () => this.database.findApiKeyByHash(hash));
    if (!key) throw unauthenticated('Unknown API key');
    if (key.revokedAt) throw unauthenticated('This API key was revoked');
    if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) throw unauthenticated('This API key has expired');
    return key;
  }

  private isPlatformKey(secret: string): boolean {
    return timingSafeEqual(createHash('sha256').update(secret).digest(), this.platformKeyHash);
  }

  private async chargeRateLimit(reply: FastifyReply, credentialId: string, perMinute: number): Promise<void> {
    const decision = await this.rateLimiter.take(credentialId, perMinute);
    void reply.header('ratelimit-limit', decision.limit).header('ratelimit-remaining', decision.remaining);
    if (!decision.allowed) {
      throw new ProblemException(
        'rate-limited',
        `This key may make ${decision.limit} requests a minute; retry in ${decision.retryAfterSeconds} s`,
        undefined,
        { 'retry-after': String(decision.retryAfterSeconds) },
      );
    }
  }

  private noteLastUsed(tenantId: string, apiKeyId: string): void {
    const now = Date.now();
    if (now - (this.lastUsedWrites.get(apiKeyId) ?? 0) < LAST_USED_WRITE_INTERVAL_MS) return;
    this.lastUsedWrites.set(apiKeyId, now);
    this.database
      .withTenant({ tenantId }, (tx) =>
        tx.apiKey.update({ where: { id: apiKeyId }, data: { lastUsedAt: new Date(now) } }),
      )
      .catch((error: unknown) => this.logger.warn(`could not record last use of ${apiKeyId}: ${String(error)}`));
  }
}

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match?.[1]) throw unauthenticated('Send the API key as "Authorization: Bearer tsk_…"');
  return match[1];
}

function unauthenticated(detail: string): ProblemException {
  return new ProblemException('unauthenticated', detail, undefined, { 'www-authenticate': 'Bearer' });
}
