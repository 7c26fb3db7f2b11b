import type { Redis } from 'ioredis';

/**
 * What a deletion asks every worker to drop from memory: the stale adapter versions (host
 * cache and device slots), the compositions built on them (parsed artifacts, merged and
 * gated slots) and the prompt prefixes cached with either (KV blocks). Sent on cacheEvictionChannel; each worker answers on evictionAckKey.
 */
export interface CacheEviction {
  id: string;
  tenantId: string;
  versionIds: string[];
  compositionIds: string[];
  artifactBlobs: string[];
}

/** What one worker dropped. */
export interface EvictionAck {
  worker: string;
  adapters: number;
  artifacts: number;
  slots: number;
  prefixBlocks: number;
}

/** What a broadcast reached: every subscribed worker is expected to answer within the timeout. */
export interface EvictionReport {
  workers: number;
  acknowledged: number;
  timed_out: boolean;
  evicted: { adapters: number; artifacts: number; slots: number; prefixBlocks: number };
}

export function cacheEvictionChannel(prefix: string): string {
  return `${prefix}:cache-evict`;
}

export function evictionAckKey(prefix: string, evictionId: string): string {
  return `${prefix}:cache-evict-ack:${evictionId}`;
}

/**
 * Publishes an eviction and waits until every worker that received it acknowledged, or
 * `timeoutMs` passed. PUBLISH answers how many subscribers got the message: that is the
 * number of acknowledgements to wait for. `redis` must be free for a blocking pop.
 */
export async function broadcastEviction(
  redis: Redis,
  prefix: string,
  eviction: CacheEviction,
  timeoutMs: number,
): Promise<EvictionReport> {
  const key = evictionAckKey(prefix, eviction.id);
  await redis.del(key);
  const workers = await redis.publish(cacheEvictionChannel(prefix), JSON.stringify(eviction));
  const report: EvictionReport = {
    workers,
    acknowledged: 0,
    timed_out: false,
    evicted: { adapters: 0, artifacts: 0, slots: 0, prefixBlocks: 0 },
  };
  const deadline = Date.now() + timeoutMs;
  while (report.acknowledged < workers) {
    const left = deadline - Date.now();
    if (left <= 0) {
      report.timed_out = true;
      break;
    }
    const popped = await redis.blpop(key, Math.max(0.01, left / 1000));
    if (!popped) continue;
    const ack = JSON.parse(popped[1]) as EvictionAck;
    report.acknowledged++;
    report.evicted.adapters += ack.adapters;
    report.evicted.artifacts += ack.artifacts;
    report.evicted.slots += ack.slots;
    report.evicted.prefixBlocks += ack.prefixBlocks ?? 0;
  }
  await redis.del(key);
  return report;
}

/** A worker's answer: pushed where the deletion waits, kept briefly in case it already gave up. */
export async function acknowledgeEviction(
  redis: Redis,
  prefix: string,
  evictionId: string,
  ack: EvictionAck,
): Promise<void> {
  const key = evictionAckKey(prefix, evictionId);
  await redis.multi().rpush(key, JSON.stringify(ack)).expire(key, 600).exec();
}
