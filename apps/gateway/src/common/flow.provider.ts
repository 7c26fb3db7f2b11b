import type { Provider } from '@nestjs/common';
import { requestPathConnection } from '@tessera/queue';
import { FlowProducer } from 'bullmq';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

/** BullMQ flows: a parent job that runs once all its children (partition fine-tunes) have. */
export const FLOW_PRODUCER = Symbol('FLOW_PRODUCER');

export const flowProducerProvider: Provider = {
  provide: FLOW_PRODUCER,
  inject: [GATEWAY_CONFIG],
  useFactory: (config: GatewayConfig): FlowProducer =>
    new FlowProducer({ connection: requestPathConnection(config.REDIS_URL), prefix: config.QUEUE_PREFIX }),
};
