import { Module } from '@nestjs/common';
import { BaseModelsController } from './base-models.controller.js';
import { BaseModelsService } from './base-models.service.js';

@Module({ controllers: [BaseModelsController], providers: [BaseModelsService] })
export class BaseModelsModule {}
