import { Logger, type Provider } from '@nestjs/common';
import { reportOutages, REQUEST_PATH_REDIS } from '@tessera/queue';
import { Redis } from 'ioredis';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

export const REDIS = Symbol('REDIS');

export const redisProvider: Provider = {
  provide: REDIS,
  inject: [GATEWAY_CONFIG],
  // lazyConnect: building the app (e.g. to write openapi.json) must not need Redis.
  useFactory: (config: GatewayConfig) => {
    const redis = new Redis(config.REDIS_URL, { lazyConnect: true, ...REQUEST_PATH_REDIS });
    // ioredis reconnects by itself; requests meanwhile get 503s. Say so once per outage, not per retry.
    const logger = new Logger('Redis');
    reportOutages(redis, 'gateway', (line) => logger.warn(line));
    return redis;
  },
};
