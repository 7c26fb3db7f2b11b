import { Module } from '@nestjs/common';
import { InferenceController } from './inference.controller.js';
import { InferenceDispatcher } from './inference-dispatcher.js';
import { InferenceService } from './inference.service.js';
import { RoutingCache } from './routing-cache.js';

@Module({ controllers: [InferenceController], providers: [InferenceService, InferenceDispatcher, RoutingCache] })
export class InferenceModule {}
