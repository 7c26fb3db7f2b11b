import type { Provider } from '@nestjs/common';
import {
  composeQueue,
  requestPathConnection,
  trainQueue,
  webhookQueue,
  type ComposeJobData,
  type TrainJobData,
  type TrainJobName,
  type WebhookJobData,
} from '@tessera/queue';
import type { Queue } from 'bullmq';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

export const TRAIN_QUEUE = Symbol('TRAIN_QUEUE');
export type TrainQueue = Queue<TrainJobData, unknown, TrainJobName>;

export const trainQueueProvider: Provider = {
  provide: TRAIN_QUEUE,
  inject: [GATEWAY_CONFIG],
  // BullMQ connects lazily on first use, so building the app (openapi.json) needs no Redis.
  useFactory: (config: GatewayConfig): TrainQueue =>
    trainQueue(requestPathConnection(config.REDIS_URL), config.QUEUE_PREFIX),
};

export const WEBHOOK_QUEUE = Symbol('WEBHOOK_QUEUE');
export type WebhookQueue = Queue<WebhookJobData>;

export const webhookQueueProvider: Provider = {
  provide: WEBHOOK_QUEUE,
  inject: [GATEWAY_CONFIG],
  useFactory: (config: GatewayConfig): WebhookQueue =>
    webhookQueue(requestPathConnection(config.REDIS_URL), config.QUEUE_PREFIX),
};

export const COMPOSE_QUEUE = Symbol('COMPOSE_QUEUE');
export type ComposeQueue = Queue<ComposeJobData>;

export const composeQueueProvider: Provider = {
  provide: COMPOSE_QUEUE,
  inject: [GATEWAY_CONFIG],
  useFactory: (config: GatewayConfig): ComposeQueue =>
    composeQueue(requestPathConnection(config.REDIS_URL), config.QUEUE_PREFIX),
};
