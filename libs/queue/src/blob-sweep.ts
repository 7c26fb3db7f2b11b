import type { Redis } from 'ioredis';

/**
 * What one blob sweep did, across every tenant: the worker that ran it records it in Redis
 * and gateways show the last one on /metrics. Leftovers are staged uploads a crash left
 * behind; unreferenced blobs are bytes no row points to (a crash between a put and its row's
 * commit). Only those older than the grace period count.
 */
export interface BlobSweepResult {
  finishedAt: Date;
  leftoversFound: number;
  leftoversRemoved: number;
  unreferencedFound: number;
  unreferencedRemoved: number;
  /** Bytes of the leftovers and blobs removed. */
  bytesReclaimed: number;
  /** Tenants whose sweep failed this pass (logged; tried again next pass). */
  failedTenants: number;
}

/** The Redis hash holding the last sweep: `finishedAt` in milliseconds since the epoch, and each count. */
export function blobSweepKey(prefix: string): string {
  return `${prefix}:blob-sweep`;
}

export async function recordBlobSweep(redis: Redis, prefix: string, result: BlobSweepResult): Promise<void> {
  await redis.hset(blobSweepKey(prefix), { ...result, finishedAt: result.finishedAt.getTime() });
}

/** The last recorded sweep; null when none ran yet, or the record is not one (a field missing or not a count). */
export async function lastBlobSweep(redis: Redis, prefix: string): Promise<BlobSweepResult | null> {
  const fields = await redis.hgetall(blobSweepKey(prefix));
  const count = (name: keyof BlobSweepResult) => (/^\d{1,15}$/.test(fields[name] ?? '') ? Number(fields[name]) : NaN);
  const result = {
    finishedAt: new Date(count('finishedAt')),
    leftoversFound: count('leftoversFound'),
    leftoversRemoved: count('leftoversRemoved'),
    unreferencedFound: count('unreferencedFound'),
    unreferencedRemoved: count('unreferencedRemoved'),
    bytesReclaimed: count('bytesReclaimed'),
    failedTenants: count('failedTenants'),
  };
  const values = Object.values(result).map((v) => (v instanceof Date ? v.getTime() : v));
  return values.some(Number.isNaN) ? null : result;
}
