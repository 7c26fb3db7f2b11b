import { Body, Controller, Delete, Get, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  accessGroupSchema,
  addMembershipSchema,
  createAccessGroupSchema,
  idSchema,
  listQuerySchema,
  listSchema,
  membershipSchema,
  updateAccessGroupSchema,
  type AddMembership,
  type CreateAccessGroup,
  type ListQuery,
  type UpdateAccessGroup,
} from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { GroupsService } from './groups.service.js';

const groupId = idSchema('grp');

@ApiTags('access-groups')
@Controller('v1/groups')
export class GroupsController {
  constructor(private readonly groups: GroupsService) {}

  @Post()
  @RequireScope('admin')
  @Operation('Create an access group', { status: 201, schema: accessGroupSchema })
  create(@CurrentCaller() caller: Caller, @Body({ schema: createAccessGroupSchema }) body: CreateAccessGroup) {
    return this.groups.create(caller, body);
  }

  @Get()
  @RequireScope('read')
  @Operation('List access groups', { status: 200, schema: listSchema(accessGroupSchema, 'AccessGroupList') })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(groupId) }) query: ListQuery) {
    return this.groups.list(caller, query);
  }

  @Get(':group_id')
  @RequireScope('read')
  @Operation('Get an access group', { status: 200, schema: accessGroupSchema })
  get(@CurrentCaller() caller: Caller, @Param('group_id', { schema: groupId }) id: string) {
    return this.groups.get(caller, id);
  }

  @Patch(':group_id')
  @RequireScope('admin')
  @Operation('Rename or describe an access group', { status: 200, schema: accessGroupSchema })
  update(
    @CurrentCaller() caller: Caller,
    @Param('group_id', { schema: groupId }) id: string,
    @Body({ schema: updateAccessGroupSchema }) body: UpdateAccessGroup,
  ) {
    return this.groups.update(caller, id, body);
  }

  @Delete(':group_id')
  @RequireScope('admin')
  @Operation('Delete an access group (409 while resources still carry it)', { status: 204 })
  delete(@CurrentCaller() caller: Caller, @Param('group_id', { schema: groupId }) id: string) {
    return this.groups.delete(caller, id);
  }

  @Post(':group_id/members')
  @RequireScope('admin')
  @Operation('Add a principal or a single API key to the group', { status: 201, schema: membershipSchema })
  addMember(
    @CurrentCaller() caller: Caller,
    @Param('group_id', { schema: groupId }) id: string,
    @Body({ schema: addMembershipSchema }) body: AddMembership,
  ) {
    return this.groups.addMember(caller, id, body);
  }

  @Get(':group_id/members')
  @RequireScope('read')
  @Operation("List the group's members", { status: 200, schema: listSchema(membershipSchema, 'GroupMembershipList') })
  listMembers(
    @CurrentCaller() caller: Caller,
    @Param('group_id', { schema: groupId }) id: string,
    @Query({ schema: listQuerySchema(idSchema('mem')) }) query: ListQuery,
  ) {
    return this.groups.listMembers(caller, id, query);
  }

  @Delete(':group_id/members/:membership_id')
  @RequireScope('admin')
  @Operation('Remove a member from the group', { status: 204 })
  removeMember(
    @CurrentCaller() caller: Caller,
    @Param('group_id', { schema: groupId }) id: string,
    @Param('membership_id', { schema: idSchema('mem') }) membershipId: string,
  ) {
    return this.groups.removeMember(caller, id, membershipId);
  }
}
