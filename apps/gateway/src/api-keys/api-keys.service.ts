import { Injectable } from '@nestjs/common';
import {
  newId,
  type ApiKey,
  type CreateApiKey,
  type CreatedApiKey,
  type ListQuery,
  type Page,
} from '@tessera/contracts';
import { Database, type TenantContext } from '@tessera/db';
import { displayPrefix, hashApiKeySecret, newApiKeySecret } from '../common/api-key-secret.util.js';
import { ApiKeyCache } from '../common/api-key-cache.js';
import { recordAudit } from '../common/audit.util.js';
import type { Caller } from '../common/caller.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { toApiKeyDto } from './api-key.mapper.js';

@Injectable()
export class ApiKeysService {
  constructor(
    private readonly database: Database,
    private readonly keys: ApiKeyCache,
  ) {}

  /** The secret is returned here once; only its hash is stored. */
  create(caller: Caller, body: CreateApiKey): Promise<CreatedApiKey> {
    const expiresAt = body.expires_at ? new Date(body.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw new ProblemException('validation', 'expires_at is in the past', [
        { field: 'body.expires_at', message: 'must be in the future' },
      ]);
    }
    const principalId = body.principal_id ?? caller.principalId;
    const secret = newApiKeySecret();
    return this.database.withTenant(caller, async (tx) => {
      const principal = await tx.principal.findFirst({ where: { id: principalId, tenantId: caller.tenantId } });
      if (!principal) throw ProblemException.notFound('principal', principalId);
      const key = await tx.apiKey.create({
        data: {
          id: newId('key'),
          tenantId: caller.tenantId,
          principalId,
          name: body.name,
          displayPrefix: displayPrefix(secret),
          keyHash: hashApiKeySecret(secret),
          scopes: body.scopes,
          rateLimitPerMinute: body.rate_limit_per_minute ?? null,
          expiresAt,
        },
      });
      await recordAudit(tx, caller, 'api_key.created', { type: 'api_key', id: key.id }, { scopes: body.scopes });
      return { ...toApiKeyDto(key), secret };
    });
  }

  async list(ctx: TenantContext, query: ListQuery): Promise<Page<ApiKey>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(ctx, (tx) =>
      tx.apiKey.findMany({ ...args, where: { ...args.where, tenantId: ctx.tenantId } }),
    );
    return toPage(rows, query, toApiKeyDto);
  }

  async get(ctx: TenantContext, id: string): Promise<ApiKey> {
    const row = await this.database.readAsTenant(ctx, (tx) =>
      tx.apiKey.findFirst({ where: { id, tenantId: ctx.tenantId } }),
    );
    if (!row) throw ProblemException.notFound('API key', id);
    return toApiKeyDto(row);
  }

  /** Revocation takes effect on the key's next request, at every gateway (their key caches are told once it commits). */
  async revoke(caller: Caller, id: string): Promise<ApiKey> {
    const revoked = await this.database.withTenant(caller, async (tx) => {
      const row = await tx.apiKey.findFirst({ where: { id, tenantId: caller.tenantId } });
      if (!row) throw ProblemException.notFound('API key', id);
      if (row.revokedAt) return toApiKeyDto(row);
      const updated = await tx.apiKey.update({ where: { id }, data: { revokedAt: new Date() } });
      await recordAudit(tx, caller, 'api_key.revoked', { type: 'api_key', id });
      return toApiKeyDto(updated);
    });
    await this.keys.changed(caller.tenantId);
    return revoked;
  }
}
