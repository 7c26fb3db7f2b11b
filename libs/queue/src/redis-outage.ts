import type { ConnectionOptions } from 'bullmq';
import { redisConnection } from './index.js';

/**
 * Options for Redis clients that serve HTTP requests: a hung Redis is an error within 2 s
 * (commandTimeout) and a down one after one retry, never a request waiting on a reconnect.
 * Not for workers' blocking connections, which BullMQ needs without either limit.
 */
export const REQUEST_PATH_REDIS = { commandTimeout: 2_000, maxRetriesPerRequest: 1 } as const;

/** BullMQ connection settings for queues a request adds to (producers): REQUEST_PATH_REDIS's limits. */
export function requestPathConnection(url: string): ConnectionOptions {
  return { ...redisConnection(url), ...REQUEST_PATH_REDIS };
}

/** Whether an error from ioredis (or BullMQ over it) means Redis is down or hung. */
export function isRedisOutage(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown; message?: unknown } | null;
  if (e?.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e?.code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(e.code)) return true;
  // ioredis reports these by message only.
  return typeof e?.message === 'string' && OUTAGE_MESSAGES.includes(e.message);
}

const OUTAGE_MESSAGES = [
  'Command timed out',
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
];

/**
 * Listens for a client's connection errors (an ioredis client without a listener prints
 * "Unhandled error event" on every reconnect attempt) and reports one line per outage and
 * minute: when it starts, while it lasts, and when the client is ready again (BullMQ's
 * queues and workers emit no `ready`: their lines stop when the errors do).
 */
export function reportOutages(client: RedisEvents, name: string, report: (line: string) => void): void {
  let reportedAt = 0;
  client.on('error', (error: Error) => {
    if (Date.now() - reportedAt < 60_000) return;
    reportedAt = Date.now();
    report(`${name}: Redis unreachable (${error.message}); retrying`);
  });
  client.on('ready', () => {
    if (reportedAt) report(`${name}: Redis reachable again`);
    reportedAt = 0;
  });
}

interface RedisEvents {
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}
