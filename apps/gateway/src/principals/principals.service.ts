import { Injectable } from '@nestjs/common';
import { newId, type CreatePrincipal, type ListQuery, type Page, type Principal } from '@tessera/contracts';
import { Database, type TenantContext } from '@tessera/db';
import type { Caller } from '../common/caller.js';
import { recordAudit } from '../common/audit.util.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { toPrincipalDto } from './principal.mapper.js';

@Injectable()
export class PrincipalsService {
  constructor(private readonly database: Database) {}

  create(caller: Caller, body: CreatePrincipal): Promise<Principal> {
    return this.database.withTenant(caller, async (tx) => {
      const principal = await tx.principal.create({
        data: {
          id: newId('prn'),
          tenantId: caller.tenantId,
          kind: body.kind,
          name: body.name,
          email: body.email ?? null,
        },
      });
      await recordAudit(tx, caller, 'principal.created', { type: 'principal', id: principal.id });
      return toPrincipalDto(principal);
    });
  }

  async list(ctx: TenantContext, query: ListQuery): Promise<Page<Principal>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(ctx, (tx) =>
      tx.principal.findMany({ ...args, where: { ...args.where, tenantId: ctx.tenantId } }),
    );
    return toPage(rows, query, toPrincipalDto);
  }

  async get(ctx: TenantContext, id: string): Promise<Principal> {
    const row = await this.database.readAsTenant(ctx, (tx) =>
      tx.principal.findFirst({ where: { id, tenantId: ctx.tenantId } }),
    );
    if (!row) throw ProblemException.notFound('principal', id);
    return toPrincipalDto(row);
  }
}
