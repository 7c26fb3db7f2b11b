import { Module } from '@nestjs/common';
import { BaseModelsController } from './base-models.controller.js';
import { BaseModelsService } from './base-models.service.js';
import { PlatformBaseModelsController } from './platform-base-models.controller.js';
import { PlatformBaseModelsService } from './platform-base-models.service.js';
import { ShardUploadsController } from './shard-uploads.controller.js';
import { ShardUploadsService } from './shard-uploads.service.js';

@Module({
  controllers: [BaseModelsController, ShardUploadsController, PlatformBaseModelsController],
  providers: [BaseModelsService, ShardUploadsService, PlatformBaseModelsService],
})
export class BaseModelsModule {}
