import { Body, Controller, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { baseModelSchema, registerPlatformBaseModelSchema, type RegisterPlatformBaseModel } from '@tessera/contracts';
import { Operation } from '../common/api-docs.decorator.js';
import { PlatformAdmin } from '../common/route-access.decorator.js';
import { PlatformBaseModelsService } from './platform-base-models.service.js';

@ApiTags('base-models')
@Controller('v1/platform/base-models')
export class PlatformBaseModelsController {
  constructor(private readonly platformBaseModels: PlatformBaseModelsService) {}

  @Post()
  @PlatformAdmin()
  @Operation(
    "Register a checkpoint kept in place in the platform checkpoint store as a base model every tenant may use (platform admin only): validated from its files' headers there, read by workers from there, never copied",
    { status: 201, schema: baseModelSchema },
  )
  register(@Body({ schema: registerPlatformBaseModelSchema }) body: RegisterPlatformBaseModel) {
    return this.platformBaseModels.register(body);
  }
}
