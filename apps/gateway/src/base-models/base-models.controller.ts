import { Controller, Get, Param } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { baseModelSchema, idSchema, listSchema } from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { BaseModelsService } from './base-models.service.js';

@ApiTags('base-models')
@Controller('v1/base-models')
export class BaseModelsController {
  constructor(private readonly baseModels: BaseModelsService) {}

  @Get()
  @RequireScope('read')
  @Operation('List the base models this tenant may use (the platform\'s and its own)', { status: 200, schema: listSchema(baseModelSchema, 'BaseModelList') })
  list(@CurrentCaller() caller: Caller) {
    return this.baseModels.list(caller);
  }

  @Get(':base_model_id')
  @RequireScope('read')
  @Operation('Get a base model', { status: 200, schema: baseModelSchema })
  get(@CurrentCaller() caller: Caller, @Param('base_model_id', { schema: idSchema('bm') }) id: string) {
    return this.baseModels.get(caller, id);
  }
}
