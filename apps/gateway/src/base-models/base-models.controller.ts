import type { Readable } from 'node:stream';
import { Body, Controller, Get, Inject, Param, Post, Put, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiTags } from '@nestjs/swagger';
import {
  baseModelSchema,
  baseModelTokenizerSchema,
  idSchema,
  listSchema,
  registerBaseModelSchema,
  type BaseModelTokenizer,
  type RegisterBaseModel,
} from '@tessera/contracts';
import type { FastifyRequest } from 'fastify';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { ProblemException } from '../common/problem.exception.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { BaseModelsService } from './base-models.service.js';

const baseModelId = idSchema('bm');

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
  @Operation('Import a Hugging Face checkpoint, step 1: its config.json (GPT-2 or Llama family)', {
    status: 201,
    schema: baseModelSchema,
  })
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
  @Operation('Import, optional step 2: tokenizer.json (and tokenizer_config.json); without it the model reads bytes', {
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

  @Put(':base_model_id/model.safetensors')
  @RequireScope('admin')
  @ApiConsumes('application/octet-stream')
  @ApiBody({
    description: "The checkpoint's model.safetensors (one file; F32, F16 or BF16), streamed",
    schema: { type: 'string', format: 'binary' },
  })
  @Operation(
    'Import, last step: the weights, checked against config.json (a mismatch is a 400 listing every problem); the model is then ready',
    { status: 200, schema: baseModelSchema },
  )
  putWeights(
    @CurrentCaller() caller: Caller,
    @Param('base_model_id', { schema: baseModelId }) id: string,
    @Req() request: FastifyRequest,
  ) {
    const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const body = () => {
      if (type !== 'application/octet-stream')
        throw new ProblemException(
          'unsupported-media-type',
          `Send the weights as application/octet-stream, got ${type || 'no content type'}`,
        );
      return request.body as Readable;
    };
    return this.baseModels.putWeights(caller, id, body, this.settings.BASE_MODEL_MAX_BYTES);
  }
}
