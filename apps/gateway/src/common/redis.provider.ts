import { Logger, type Provider } from '@nestjs/common';
import { Redis } from 'ioredis';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

export const REDIS = Symbol('REDIS');

export const redisProvider: Provider = {
  provide: REDIS,
  inject: [GATEWAY_CONFIG],
  // lazyConnect: building the app (e.g. to write openapi.json) must not need Redis.
  useFactory: (config: GatewayConfig) => {
    const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
    // ioredis reconnects by itself; requests meanwhile get 503s. Say so once per outage, not per retry.
    const logger = new Logger('Redis');
    let down = false;
    redis.on('error', (error: Error) => {
      if (!down) logger.warn(`Redis unreachable at ${config.REDIS_URL}: ${error.message}`);
      down = true;
    });
    redis.on('ready', () => (down = false));
    return redis;
  },
};
