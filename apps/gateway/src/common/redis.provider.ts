import type { Provider } from '@nestjs/common';
import { Redis } from 'ioredis';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

export const REDIS = Symbol('REDIS');

export const redisProvider: Provider = {
  provide: REDIS,
  inject: [GATEWAY_CONFIG],
  // lazyConnect: building the app (e.g. to write openapi.json) must not need Redis.
  useFactory: (config: GatewayConfig) => new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 }),
};
