import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  compositionSchema,
  createCompositionSchema,
  idSchema,
  listQuerySchema,
  listSchema,
  type CreateComposition,
  type ListQuery,
} from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { CompositionsService } from './compositions.service.js';

const compositionId = idSchema('cmp');

/** Compositions: adapters merged in weight space, or gated per token, built by compose jobs and served by name. */
@ApiTags('compositions')
@Controller('v1/compositions')
export class CompositionsController {
  constructor(private readonly compositions: CompositionsService) {}

  @Post()
  @RequireScope('write')
  @Operation('Compose adapters (a merge or a learned gate); a compose job builds it and composition.ready fires', {
    status: 201,
    schema: compositionSchema,
  })
  create(@CurrentCaller() caller: Caller, @Body({ schema: createCompositionSchema }) body: CreateComposition) {
    return this.compositions.create(caller, body);
  }

  @Get()
  @RequireScope('read')
  @Operation('List compositions the caller may use', {
    status: 200,
    schema: listSchema(compositionSchema, 'CompositionList'),
  })
  list(@CurrentCaller() caller: Caller, @Query({ schema: listQuerySchema(compositionId) }) query: ListQuery) {
    return this.compositions.list(caller, query);
  }

  @Get(':composition_id')
  @RequireScope('read')
  @Operation('Get a composition', { status: 200, schema: compositionSchema })
  get(@CurrentCaller() caller: Caller, @Param('composition_id', { schema: compositionId }) id: string) {
    return this.compositions.get(caller, id);
  }
}
