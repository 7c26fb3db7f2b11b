import { Module } from '@nestjs/common';
import { InferenceController } from './inference.controller.js';
import { InferenceDispatcher } from './inference-dispatcher.js';
import { InferenceService } from './inference.service.js';

@Module({ controllers: [InferenceController], providers: [InferenceService, InferenceDispatcher] })
export class InferenceModule {}
