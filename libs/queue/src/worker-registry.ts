import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Redis } from 'ioredis';

/**
 * What a running worker tells the platform about itself: the queues it consumes, and where
 * its graphs run (the execution provider it asked for, the one it got, and the device).
 * Each worker keeps its record alive in Redis with a heartbeat; gateways list the live ones
 * on /readyz and /metrics. A record that misses its heartbeats expires with its key.
 */
export interface WorkerRecord {
  /** host:pid */
  worker: string;
  queues: string[];
  threads: number;
  provider: {
    requested: string;
    active: string;
    /** Why the requested provider is not the active one. */
    fallback?: string;
  };
  device: { name: string; memoryBytes: number | null };
  startedAt: string;
  /** The process as of the last heartbeat: resident memory, and event-loop delay over the interval before it. */
  vitals?: { rssBytes: number; eventLoopDelayMs: { mean: number; p99: number } };
}

export function workerRecordKey(prefix: string, worker: string): string {
  return `${prefix}:workers:${worker}`;
}

/** Writes the record with a time to live: the worker is listed while it keeps announcing. */
export async function announceWorker(redis: Redis, prefix: string, record: WorkerRecord, ttlMs: number): Promise<void> {
  await redis.set(workerRecordKey(prefix, record.worker), JSON.stringify(record), 'PX', ttlMs);
}

export async function withdrawWorker(redis: Redis, prefix: string, worker: string): Promise<void> {
  await redis.del(workerRecordKey(prefix, worker));
}

/**
 * Announces the record now and every `intervalMs` (each living three intervals, so one late
 * beat does not drop it) until `signal` aborts, then withdraws it. A failed beat (Redis down)
 * is retried at the next one.
 */
export async function keepWorkerAnnounced(
  redis: Redis,
  prefix: string,
  record: WorkerRecord,
  intervalMs: number,
  signal: AbortSignal,
): Promise<void> {
  // A busy engine step blocks the loop: the delay is how late the worker would notice a cancel or a heartbeat.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const beat = () => {
    const vitals = {
      rssBytes: process.memoryUsage.rss(),
      eventLoopDelayMs: { mean: nanosToMs(delay.mean), p99: nanosToMs(delay.percentile(99)) },
    };
    delay.reset();
    return announceWorker(redis, prefix, { ...record, vitals }, 3 * intervalMs).catch(() => undefined);
  };
  await beat();
  const timer = setInterval(() => void beat(), intervalMs);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(timer);
  delay.disable();
  await withdrawWorker(redis, prefix, record.worker).catch(() => undefined);
}

/** Every worker whose record is alive, by name; records that do not parse are skipped. */
export async function liveWorkers(redis: Redis, prefix: string): Promise<WorkerRecord[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', workerRecordKey(prefix, '*'), 'COUNT', 100);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  if (!keys.length) return [];
  const values = await redis.mget(keys);
  return values
    .flatMap((value) => {
      try {
        const record = JSON.parse(value ?? 'null') as WorkerRecord | null;
        return record && typeof record.worker === 'string' && record.provider && record.device ? [record] : [];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a.worker.localeCompare(b.worker));
}

/** A histogram's nanoseconds in milliseconds to 0.1 (NaN, before any sample, as 0). */
function nanosToMs(nanos: number): number {
  return Number.isFinite(nanos) ? Math.round(nanos / 1e5) / 10 : 0;
}
