import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import {
  inferCancelChannel,
  inferEventChannel,
  inferQueueFor,
  INFER_JOB_OPTIONS,
  REQUEST_PATH_REDIS,
  requestPathConnection,
  type InferEvent,
  type InferJobData,
} from '@tessera/queue';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ProblemException } from '../common/problem.exception.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

/**
 * Puts inference requests on their base model's `infer.<id>` queue and hands back the
 * worker's events as they arrive. It subscribes to the request's channel before enqueueing,
 * so no event can be missed; a caller that stops listening (a client gone) cancels it.
 */
@Injectable()
export class InferenceDispatcher implements OnModuleDestroy {
  private readonly queues = new Map<string, Queue<InferJobData>>();
  private subscriber: Promise<Redis> | null = null;
  private readonly publisher: Redis;
  private readonly listeners = new Map<string, (event: InferEvent) => void>();

  constructor(@Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig) {
    this.publisher = new Redis(config.REDIS_URL, { lazyConnect: true, ...REQUEST_PATH_REDIS });
    this.publisher.on('error', () => undefined); // requests see the errors; one connection's log line is enough
  }

  async *dispatch(data: InferJobData): AsyncGenerator<InferEvent> {
    const channel = inferEventChannel(this.config.QUEUE_PREFIX, data.requestId);
    const pending: InferEvent[] = [];
    let wake: (() => void) | null = null;
    this.listeners.set(channel, (event) => {
      pending.push(event);
      wake?.();
    });
    let finished = false;
    let ended = 0;
    try {
      const subscriber = await this.subscribed();
      await subscriber.subscribe(channel);
      await this.queue(data.baseModelId).add('infer', data, { ...INFER_JOB_OPTIONS, jobId: data.requestId });
      for (;;) {
        if (!pending.length) {
          const timedOut = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(true), this.config.INFER_TIMEOUT_MS);
            wake = () => {
              clearTimeout(timer);
              resolve(false);
            };
          });
          wake = null;
          if (timedOut)
            throw new ProblemException(
              'unavailable',
              `No inference worker answered within ${this.config.INFER_TIMEOUT_MS} ms for this base model; try again`,
            );
          continue;
        }
        const event = pending.shift()!;
        // Each choice ends with its own done: the request is over at the n-th, or at an error.
        if (event.type === 'done') ended++;
        if (ended === (data.n ?? 1) || event.type === 'error') finished = true;
        yield event;
        if (finished) return;
      }
    } finally {
      this.listeners.delete(channel);
      void this.subscriber?.then((s) => s.unsubscribe(channel)).catch(() => undefined);
      // Stopped early (client gone, timeout): the worker stops generating, or never starts.
      if (!finished) {
        void this.publisher
          .publish(inferCancelChannel(this.config.QUEUE_PREFIX), data.requestId)
          .catch(() => undefined);
        void this.queue(data.baseModelId)
          .remove(data.requestId)
          .catch(() => undefined);
      }
    }
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    void this.subscriber?.then((s) => s.disconnect()).catch(() => undefined);
    this.publisher.disconnect();
  }

  private queue(baseModelId: string): Queue<InferJobData> {
    let queue = this.queues.get(baseModelId);
    if (!queue) {
      queue = inferQueueFor(requestPathConnection(this.config.REDIS_URL), baseModelId, this.config.QUEUE_PREFIX);
      this.queues.set(baseModelId, queue);
    }
    return queue;
  }

  /**
   * One subscriber connection for every request of this gateway, connected before anyone
   * subscribes: a SUBSCRIBE sent while it still connects puts it in subscriber mode before
   * ioredis's ready check, which then fails every request of a cold gateway's first burst.
   */
  private subscribed(): Promise<Redis> {
    if (!this.subscriber) {
      const subscriber = new Redis(this.config.REDIS_URL, { lazyConnect: true, ...REQUEST_PATH_REDIS });
      subscriber.on('message', (channel: string, message: string) =>
        this.listeners.get(channel)?.(JSON.parse(message) as InferEvent),
      );
      subscriber.on('error', () => undefined);
      this.subscriber = subscriber.connect().then(
        () => subscriber,
        (error: unknown) => {
          this.subscriber = null; // the next request tries again
          subscriber.disconnect();
          throw error;
        },
      );
    }
    return this.subscriber;
  }
}
