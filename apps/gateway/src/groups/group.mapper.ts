import type { AccessGroup as AccessGroupDto, Membership as MembershipDto } from '@tessera/contracts';
import type { AccessGroupModel, GroupMembershipModel } from '@tessera/db';

export function toAccessGroupDto(row: AccessGroupModel): AccessGroupDto {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export function toMembershipDto(row: GroupMembershipModel): MembershipDto {
  return {
    id: row.id,
    group_id: row.groupId,
    principal_id: row.principalId,
    api_key_id: row.apiKeyId,
    created_at: row.createdAt.toISOString(),
  };
}
