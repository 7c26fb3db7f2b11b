import { Body, Controller, Get, Inject, Param, Post, Put, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiTags } from '@nestjs/swagger';
import {
  baseModelSchema,
  baseModelTokenizerSchema,
  checkpointIndexSchema,
  idSchema,
  listSchema,
  registerBaseModelSchema,
  type BaseModelTokenizer,
  type CheckpointIndex,
  type RegisterBaseModel,
} from '@tessera/contracts';
import type { FastifyRequest } from 'fastify';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { octetStreamBody } from '../common/octet-stream-body.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { BaseModelsService } from './base-models.service.js';

export const baseModelId = idSchema('bm');

@ApiTags('base-models')
@Controller('v1/base-models')
export class BaseModelsController {
  constructor(
    private readonly baseModels: BaseModelsService,
    @Inject(GATEWAY_CONFIG) private readonly settings: GatewayConfig,
  ) {}

  @Get()
  @RequireScope('read')
  @Operation("List the base models this tenant may use (the platform's and its own)", {
    status: 200,
    schema: listSchema(baseModelSchema, 'BaseModelList'),
  })
  list(@CurrentCaller() caller: Caller) {
    return this.baseModels.list(caller);
  }

  @Post()
  @RequireScope('admin')
  @Operation(
    'Import a Hugging Face checkpoint, step 1: its config.json (GPT-2 or Llama family) and the precision to serve at',
    { status: 201, schema: baseModelSchema },
  )
  register(@CurrentCaller() caller: Caller, @Body({ schema: registerBaseModelSchema }) body: RegisterBaseModel) {
    return this.baseModels.register(caller, body);
  }

  @Get(':base_model_id')
  @RequireScope('read')
  @Operation('Get a base model', { status: 200, schema: baseModelSchema })
  get(@CurrentCaller() caller: Caller, @Param('base_model_id', { schema: baseModelId }) id: string) {
    return this.baseModels.get(caller, id);
  }

  @Put(':base_model_id/tokenizer')
  @RequireScope('admin')
  @Operation('Import, optional: tokenizer.json (and tokenizer_config.json); without it the model reads bytes', {
    status: 200,
    schema: baseModelSchema,
  })
  putTokenizer(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Body({ schema: baseModelTokenizerSchema }) body: BaseModelTokenizer,
  ) {
    return this.baseModels.putTokenizer(caller, id, body);
  }

  @Put(':base_model_id/model.safetensors.index.json')
  @RequireScope('admin')
  @Operation(
    "Import in shards: the checkpoint's model.safetensors.index.json (which shard holds each tensor); replaceable until the upload completes",
    { status: 200, schema: baseModelSchema },
  )
  putIndex(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Body({ schema: checkpointIndexSchema }) body: CheckpointIndex,
  ) {
    return this.baseModels.putIndex(caller, id, body);
  }

  @Put(':base_model_id/model.safetensors')
  @RequireScope('admin')
  @ApiConsumes('application/octet-stream')
  @ApiBody({
    description:
      "The checkpoint's model.safetensors in one request (F32, F16 or BF16; up to BASE_MODEL_MAX_BYTES), streamed",
    schema: { type: 'string', format: 'binary' },
  })
  @Operation(
    'Import a small checkpoint in one request: model.safetensors, checked against config.json (a mismatch is a 400 listing every problem); the model is then ready',
    { status: 200, schema: baseModelSchema },
  )
  putWeights(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Req() request: FastifyRequest,
  ) {
    const body = octetStreamBody(request, 'the weights');
    return this.baseModels.putWeights(caller, id, body, this.settings.BASE_MODEL_MAX_BYTES);
  }

  @Post(':base_model_id/complete')
  @RequireScope('admin')
  @Operation(
    'Import in shards, last step: validate the whole checkpoint (every shard complete) against config.json and the index; a misfit is a 400 listing every problem, a fit makes the model ready',
    { status: 200, schema: baseModelSchema },
  )
  complete(@CurrentCaller() caller: Caller, @Param('base_model_id', { schema: baseModelId }) id: string) {
    return this.baseModels.complete(caller, id);
  }
}
