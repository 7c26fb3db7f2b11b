import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { ApiKeysModule } from './api-keys/api-keys.module.js';
import { ApiKeyCache } from './common/api-key-cache.js';
import { UsageLedger } from './usage/usage-ledger.js';
import { AuthGuard } from './common/auth.guard.js';
import { blobStoreProvider } from './common/blob-store.provider.js';
import { composeQueueProvider, trainQueueProvider, webhookQueueProvider } from './common/queues.provider.js';
import { databaseProvider } from './common/database.provider.js';
import { flowProducerProvider } from './common/flow.provider.js';
import { HttpMetrics } from './common/http-metrics.js';
import { IdempotencyInterceptor } from './common/idempotency.interceptor.js';
import { ProblemFilter } from './common/problem.filter.js';
import { RateLimiter } from './common/rate-limiter.service.js';
import { redisProvider } from './common/redis.provider.js';
import { SchemaValidationPipe } from './common/schema-validation.pipe.js';
import { GATEWAY_CONFIG, type GatewayConfig } from './config/gateway-config.js';
import { AdaptersModule } from './adapters/adapters.module.js';
import { BaseModelsModule } from './base-models/base-models.module.js';
import { InferenceModule } from './inference/inference.module.js';
import { DatasetsModule } from './datasets/datasets.module.js';
import { CompositionsModule } from './compositions/compositions.module.js';
import { DeletionsModule } from './deletions/deletions.module.js';
import { FineTunesModule } from './fine-tunes/fine-tunes.module.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';
import { GroupsModule } from './groups/groups.module.js';
import { HealthController } from './health/health.controller.js';
import { PrincipalsModule } from './principals/principals.module.js';
import { TenantsModule } from './tenants/tenants.module.js';
import { UsageModule } from './usage/usage.module.js';

/** Connections and cross-cutting pieces every feature module shares. */
@Module({})
class InfrastructureModule {
  static forRoot(config: GatewayConfig, metrics: HttpMetrics): DynamicModule {
    return {
      module: InfrastructureModule,
      global: true,
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: HttpMetrics, useValue: metrics },
        databaseProvider,
        redisProvider,
        blobStoreProvider,
        trainQueueProvider,
        composeQueueProvider,
        webhookQueueProvider,
        flowProducerProvider,
        RateLimiter,
        ApiKeyCache,
        UsageLedger,
      ],
      exports: [
        GATEWAY_CONFIG,
        HttpMetrics,
        databaseProvider,
        redisProvider,
        blobStoreProvider,
        trainQueueProvider,
        composeQueueProvider,
        webhookQueueProvider,
        flowProducerProvider,
        RateLimiter,
        ApiKeyCache,
        UsageLedger,
      ],
    };
  }
}

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig, metrics: HttpMetrics): DynamicModule {
    return {
      module: AppModule,
      imports: [
        InfrastructureModule.forRoot(config, metrics),
        TenantsModule,
        PrincipalsModule,
        ApiKeysModule,
        GroupsModule,
        DatasetsModule,
        BaseModelsModule,
        FineTunesModule,
        AdaptersModule,
        CompositionsModule,
        DeletionsModule,
        WebhooksModule,
        InferenceModule,
        UsageModule,
      ],
      controllers: [HealthController],
      providers: [
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        { provide: APP_PIPE, useClass: SchemaValidationPipe },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
    };
  }
}
