import type { Database, TenantContext } from '@tessera/db';
import { isBlobReferenced, referencedBlobs } from '@tessera/domain';
import { lastBlobSweep, recordBlobSweep, type BlobSweepResult } from '@tessera/queue';
import type { BlobStore, StoredBlob, TenantBlobStores } from '@tessera/storage';
import type { Redis } from 'ioredis';

/** Old blobs looked up in Postgres at once: bounds the memory a tenant's listing takes and each query's IN list. */
const LOOKUP_BATCH = 500;
/** How long one worker holds the sweep; renewed at each tenant. A lapsed lock lets a second sweep in, which is harmless. */
const LOCK_MS = 10 * 60_000;

export interface BlobSweeperDeps {
  database: Database;
  blobs: TenantBlobStores;
  redis: Redis;
  prefix: string;
  /**
   * Only staged uploads and unreferenced blobs older than this are removed. A put writes its
   * blob before the row that refers to it commits, so a young blob no row refers to may be
   * one whose row is on its way: the grace must exceed the longest upload plus the work and
   * transaction between its put and that commit (a base model's weights are checked in between).
   */
  graceMs: number;
  log: (line: string, level?: 'info' | 'warn') => void;
}

type Counts = Omit<BlobSweepResult, 'finishedAt'>;

/**
 * One pass over every tenant's blob store: removes (a) staged uploads a crash left mid-write
 * and (b) blobs no row of the tenant refers to (a crash between a put and its row's commit,
 * or a release that failed), both only once older than the grace period. Records the result
 * for /metrics. One worker sweeps at a time (a Redis lock); null when another holds it, or
 * when `signal` stopped the pass before its end.
 */
export async function sweepBlobs(deps: BlobSweeperDeps, signal?: AbortSignal): Promise<BlobSweepResult | null> {
  const lock = `${deps.prefix}:blob-sweep-lock`;
  if ((await deps.redis.set(lock, String(process.pid), 'PX', LOCK_MS, 'NX')) !== 'OK') return null;
  const counts: Counts = {
    leftoversFound: 0,
    leftoversRemoved: 0,
    unreferencedFound: 0,
    unreferencedRemoved: 0,
    bytesReclaimed: 0,
    failedTenants: 0,
  };
  try {
    const cutoff = new Date(Date.now() - deps.graceMs);
    for (const tenantId of await deps.database.tenantIds()) {
      if (signal?.aborted) return null;
      await deps.redis.pexpire(lock, LOCK_MS);
      try {
        await sweepTenant(deps, { tenantId }, cutoff, counts, signal);
      } catch (error) {
        counts.failedTenants++;
        deps.log(
          `blob sweep of tenant ${tenantId} failed (${(error as Error).message}); next pass tries again`,
          'warn',
        );
      }
    }
  } finally {
    await deps.redis.del(lock);
  }
  if (signal?.aborted) return null;
  const result = { finishedAt: new Date(), ...counts };
  await recordBlobSweep(deps.redis, deps.prefix, result);
  if (counts.leftoversFound || counts.unreferencedFound)
    deps.log(
      `blob sweep: ${counts.leftoversRemoved}/${counts.leftoversFound} staged leftovers and ` +
        `${counts.unreferencedRemoved}/${counts.unreferencedFound} unreferenced blobs removed, ${counts.bytesReclaimed} bytes`,
    );
  return result;
}

async function sweepTenant(
  deps: BlobSweeperDeps,
  ctx: TenantContext,
  cutoff: Date,
  counts: Counts,
  signal?: AbortSignal,
): Promise<void> {
  const store = deps.blobs.forTenant(ctx.tenantId);
  for await (const staged of store.staging()) {
    if (staged.modifiedAt >= cutoff) continue; // an upload still being written
    counts.leftoversFound++;
    if (await store.removeStaged(staged.id)) {
      counts.leftoversRemoved++;
      counts.bytesReclaimed += staged.bytes;
    }
  }
  let old: StoredBlob[] = [];
  for await (const blob of store.list()) {
    if (signal?.aborted) return;
    if (blob.modifiedAt >= cutoff) continue;
    old.push(blob);
    if (old.length < LOOKUP_BATCH) continue;
    await removeUnreferenced(deps, store, ctx, old, cutoff, counts);
    old = [];
  }
  if (old.length) await removeUnreferenced(deps, store, ctx, old, cutoff, counts);
}

async function removeUnreferenced(
  deps: BlobSweeperDeps,
  store: BlobStore,
  ctx: TenantContext,
  old: StoredBlob[],
  cutoff: Date,
  counts: Counts,
): Promise<void> {
  const referenced = await deps.database.withTenant(ctx, (tx) =>
    referencedBlobs(
      tx,
      old.map((b) => b.sha256),
    ),
  );
  for (const blob of old) {
    if (referenced.has(blob.sha256)) continue;
    // Asked again right before the delete: a row committed since the batch's lookup keeps its
    // blob, and `unmodifiedSince` keeps one a put has just stored again for a row to come.
    if (await deps.database.withTenant(ctx, (tx) => isBlobReferenced(tx, blob.sha256))) continue;
    counts.unreferencedFound++;
    if (await store.delete(blob.sha256, { unmodifiedSince: cutoff })) {
      counts.unreferencedRemoved++;
      counts.bytesReclaimed += blob.bytes;
    }
  }
}

/**
 * Sweeps whenever the last recorded sweep (by any worker) is an interval old or there is none,
 * checking every `intervalMs`, until `signal` aborts (resolving once no pass runs). Workers
 * restarting one after another do not each start a sweep; sweeps are at most two intervals apart.
 * A failed pass is logged and tried again at the next check.
 */
export async function startBlobSweeper(deps: BlobSweeperDeps, intervalMs: number, signal: AbortSignal): Promise<void> {
  const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  while (!signal.aborted) {
    try {
      const last = await lastBlobSweep(deps.redis, deps.prefix);
      if (!last || Date.now() - last.finishedAt.getTime() >= intervalMs) await sweepBlobs(deps, signal);
    } catch (error) {
      deps.log(`blob sweep failed (${(error as Error).message}); next check in ${intervalMs} ms`, 'warn');
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([aborted, new Promise((resolve) => (timer = setTimeout(resolve, intervalMs)))]);
    clearTimeout(timer);
  }
}
