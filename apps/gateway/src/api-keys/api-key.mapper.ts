import type { ApiKey as ApiKeyDto } from '@tessera/contracts';
import type { ApiKeyModel } from '@tessera/db';

export function toApiKeyDto(row: ApiKeyModel): ApiKeyDto {
  return {
    id: row.id,
    name: row.name,
    principal_id: row.principalId,
    display_prefix: row.displayPrefix,
    scopes: row.scopes,
    rate_limit_per_minute: row.rateLimitPerMinute,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
    expires_at: row.expiresAt?.toISOString() ?? null,
    revoked_at: row.revokedAt?.toISOString() ?? null,
  };
}
