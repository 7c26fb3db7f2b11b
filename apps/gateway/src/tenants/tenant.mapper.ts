import type { Tenant as TenantDto } from '@tessera/contracts';
import type { TenantModel } from '@tessera/db';

export function toTenantDto(row: TenantModel): TenantDto {
  return { id: row.id, name: row.name, created_at: row.createdAt.toISOString() };
}
