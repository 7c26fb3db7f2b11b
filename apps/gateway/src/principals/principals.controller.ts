import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  createPrincipalSchema,
  idSchema,
  listQuerySchema,
  listSchema,
  principalSchema,
  type CreatePrincipal,
  type ListQuery,
} from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { PrincipalsService } from './principals.service.js';

@ApiTags('principals')
@Controller('v1/principals')
export class PrincipalsController {
  constructor(private readonly principals: PrincipalsService) {}

  @Post()
  @RequireScope('admin')
  @Operation('Create a principal (a user or a service that holds keys)', { status: 201, schema: principalSchema })
  create(@CurrentCaller() caller: Caller, @Body({ schema: createPrincipalSchema }) body: CreatePrincipal) {
    return this.principals.create(caller, body);
  }

  @Get()
  @RequireScope('read')
  @Operation('List principals', { status: 200, schema: listSchema(principalSchema, 'PrincipalList') })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(idSchema('prn')) }) query: ListQuery) {
    return this.principals.list(caller, query);
  }

  @Get(':principal_id')
  @RequireScope('read')
  @Operation('Get a principal', { status: 200, schema: principalSchema })
  get(@CurrentCaller() caller: Caller, @Param('principal_id', { schema: idSchema('prn') }) id: string) {
    return this.principals.get(caller, id);
  }
}
