import { Injectable } from '@nestjs/common';
import type { BaseModelDto } from '@tessera/contracts';
import { Database, type TenantContext, type TenantTransaction } from '@tessera/db';
import type { BaseModelModel } from '@tessera/db';
import { ProblemException } from '../common/problem.exception.js';

export function toBaseModelDto(row: BaseModelModel): BaseModelDto {
  return {
    id: row.id,
    name: row.name,
    architecture: row.architecture,
    config: row.config as Record<string, unknown>,
    owner: row.tenantId ? 'tenant' : 'platform',
    created_at: row.createdAt.toISOString(),
  };
}

/** A base model the tenant may use (its own or the platform's), by id or name; the tenant's own wins a name clash. */
export async function findBaseModel(tx: TenantTransaction, ctx: TenantContext, idOrName: string): Promise<BaseModelModel> {
  const rows = await tx.baseModel.findMany({ where: { OR: [{ id: idOrName }, { name: idOrName }], AND: [{ OR: [{ tenantId: null }, { tenantId: ctx.tenantId }] }] } });
  const row = rows.find((r) => r.tenantId) ?? rows[0];
  if (!row) throw ProblemException.notFound('base model', idOrName);
  return row;
}

@Injectable()
export class BaseModelsService {
  constructor(private readonly database: Database) {}

  async list(ctx: TenantContext): Promise<{ data: BaseModelDto[]; has_more: boolean }> {
    const rows = await this.database.withTenant(ctx, (tx) => tx.baseModel.findMany({ where: { OR: [{ tenantId: null }, { tenantId: ctx.tenantId }] }, orderBy: { id: 'asc' } }));
    return { data: rows.map(toBaseModelDto), has_more: false };
  }

  async get(ctx: TenantContext, idOrName: string): Promise<BaseModelDto> {
    return toBaseModelDto(await this.database.withTenant(ctx, (tx) => findBaseModel(tx, ctx, idOrName)));
  }
}
