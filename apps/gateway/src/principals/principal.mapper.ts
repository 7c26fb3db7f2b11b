import type { Principal as PrincipalDto } from '@tessera/contracts';
import type { PrincipalModel } from '@tessera/db';

export function toPrincipalDto(row: PrincipalModel): PrincipalDto {
  return { id: row.id, kind: row.kind, name: row.name, email: row.email, created_at: row.createdAt.toISOString() };
}
