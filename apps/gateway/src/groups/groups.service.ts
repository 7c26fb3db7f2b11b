import { Injectable } from '@nestjs/common';
import {
  newId,
  type AccessGroup,
  type AddMembership,
  type CreateAccessGroup,
  type ListQuery,
  type Membership,
  type Page,
  type UpdateAccessGroup,
} from '@tessera/contracts';
import { Database, type TenantContext, type TenantTransaction } from '@tessera/db';
import { ApiKeyCache } from '../common/api-key-cache.js';
import { recordAudit } from '../common/audit.util.js';
import type { Caller } from '../common/caller.js';
import { pageArgs, toPage } from '../common/pagination.util.js';
import { ProblemException } from '../common/problem.exception.js';
import { toAccessGroupDto, toMembershipDto } from './group.mapper.js';

@Injectable()
export class GroupsService {
  constructor(
    private readonly database: Database,
    private readonly keys: ApiKeyCache,
  ) {}

  create(caller: Caller, body: CreateAccessGroup): Promise<AccessGroup> {
    return this.database.withTenant(caller, async (tx) => {
      const group = await tx.accessGroup.create({
        data: { id: newId('grp'), tenantId: caller.tenantId, name: body.name, description: body.description ?? null },
      });
      await recordAudit(tx, caller, 'access_group.created', { type: 'access_group', id: group.id });
      return toAccessGroupDto(group);
    });
  }

  async list(ctx: TenantContext, query: ListQuery): Promise<Page<AccessGroup>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(ctx, (tx) =>
      tx.accessGroup.findMany({ ...args, where: { ...args.where, tenantId: ctx.tenantId } }),
    );
    return toPage(rows, query, toAccessGroupDto);
  }

  async get(ctx: TenantContext, id: string): Promise<AccessGroup> {
    return toAccessGroupDto(await this.database.readAsTenant(ctx, (tx) => findGroup(tx, ctx, id)));
  }

  update(caller: Caller, id: string, body: UpdateAccessGroup): Promise<AccessGroup> {
    return this.database.withTenant(caller, async (tx) => {
      await findGroup(tx, caller, id);
      const group = await tx.accessGroup.update({
        where: { id },
        data: {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.description !== undefined ? { description: body.description } : {}),
        },
      });
      await recordAudit(tx, caller, 'access_group.updated', { type: 'access_group', id });
      return toAccessGroupDto(group);
    });
  }

  /** Refused (409) while documents, adapters or compositions still carry the group. */
  async delete(caller: Caller, id: string): Promise<void> {
    // The groups a key may use changed: every gateway's key cache drops this tenant's keys.
    const result = await this.database.withTenant(caller, async (tx) => {
      await findGroup(tx, caller, id);
      await tx.accessGroup.delete({ where: { id } });
      await recordAudit(tx, caller, 'access_group.deleted', { type: 'access_group', id });
    });
    await this.keys.changed(caller.tenantId);
    return result;
  }

  /**
   * Foreign keys do not see tenants, so the member is looked up within the caller's tenant
   * first: another tenant's principal is "not found", never silently linked.
   */
  async addMember(caller: Caller, groupId: string, body: AddMembership): Promise<Membership> {
    // The groups a key may use changed: every gateway's key cache drops this tenant's keys.
    const result = await this.database.withTenant(caller, async (tx) => {
      await findGroup(tx, caller, groupId);
      if (body.principal_id) {
        const principal = await tx.principal.findFirst({ where: { id: body.principal_id, tenantId: caller.tenantId } });
        if (!principal) throw ProblemException.notFound('principal', body.principal_id);
      }
      if (body.api_key_id) {
        const key = await tx.apiKey.findFirst({ where: { id: body.api_key_id, tenantId: caller.tenantId } });
        if (!key) throw ProblemException.notFound('API key', body.api_key_id);
      }
      const membership = await tx.groupMembership.create({
        data: {
          id: newId('mem'),
          tenantId: caller.tenantId,
          groupId,
          principalId: body.principal_id ?? null,
          apiKeyId: body.api_key_id ?? null,
        },
      });
      await recordAudit(
        tx,
        caller,
        'access_group.member_added',
        { type: 'access_group', id: groupId },
        { membership: membership.id },
      );
      return toMembershipDto(membership);
    });
    await this.keys.changed(caller.tenantId);
    return result;
  }

  async listMembers(ctx: TenantContext, groupId: string, query: ListQuery): Promise<Page<Membership>> {
    const args = pageArgs(query);
    const rows = await this.database.readAsTenant(ctx, async (tx) => {
      await findGroup(tx, ctx, groupId);
      return tx.groupMembership.findMany({ ...args, where: { ...args.where, tenantId: ctx.tenantId, groupId } });
    });
    return toPage(rows, query, toMembershipDto);
  }

  async removeMember(caller: Caller, groupId: string, membershipId: string): Promise<void> {
    // The groups a key may use changed: every gateway's key cache drops this tenant's keys.
    const result = await this.database.withTenant(caller, async (tx) => {
      const membership = await tx.groupMembership.findFirst({
        where: { id: membershipId, groupId, tenantId: caller.tenantId },
      });
      if (!membership) throw ProblemException.notFound(`membership in group ${groupId}`, membershipId);
      await tx.groupMembership.delete({ where: { id: membershipId } });
      await recordAudit(
        tx,
        caller,
        'access_group.member_removed',
        { type: 'access_group', id: groupId },
        { membership: membershipId },
      );
    });
    await this.keys.changed(caller.tenantId);
    return result;
  }
}

export async function findGroup(tx: TenantTransaction, ctx: TenantContext, id: string) {
  const group = await tx.accessGroup.findFirst({ where: { id, tenantId: ctx.tenantId } });
  if (!group) throw ProblemException.notFound('access group', id);
  return group;
}
