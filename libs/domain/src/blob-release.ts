import type { Database, TenantContext, TenantTransaction } from '@tessera/db';
import type { BlobStore } from '@tessera/storage';

/**
 * Which of `candidates` some row of the tenant points to: the one list of the columns that
 * hold blob addresses. Blobs are content-addressed, so identical content (a retrain that
 * reproduced a version, two datasets with one file) is stored once and shared: bytes are
 * erased only when nothing refers to them.
 */
export async function referencedBlobs(tx: TenantTransaction, candidates: readonly string[]): Promise<Set<string>> {
  const among = { in: [...candidates] };
  const found = await Promise.all([
    tx.adapterVersion.findMany({ where: { weightsBlob: among }, select: { weightsBlob: true } }),
    tx.composition.findMany({ where: { artifactBlob: among }, select: { artifactBlob: true } }),
    tx.checkpoint.findMany({ where: { blob: among }, select: { blob: true } }),
    tx.dataset.findMany({ where: { blob: among }, select: { blob: true } }),
    tx.baseModel.findMany({
      where: { OR: [{ weightsBlob: among }, { tokenizerBlob: among }] },
      select: { weightsBlob: true, tokenizerBlob: true },
    }),
    // An imported checkpoint's shards once assembled, and the parts of those still arriving.
    tx.baseModelShard.findMany({ where: { blob: among }, select: { blob: true } }),
    tx.baseModelShardPart.findMany({ where: { blob: among }, select: { blob: true } }),
  ]);
  const wanted = new Set(candidates);
  return new Set(
    found.flat().flatMap((row) => Object.values(row).filter((sha): sha is string => sha !== null && wanted.has(sha))),
  );
}

/** Whether any row still points to these bytes. */
export async function isBlobReferenced(tx: TenantTransaction, sha256: string): Promise<boolean> {
  return (await referencedBlobs(tx, [sha256])).size > 0;
}

/** Erases bytes no row of the tenant points to any more; whether they were erased. */
export async function releaseBlob(
  database: Database,
  store: BlobStore,
  ctx: TenantContext,
  sha256: string,
): Promise<boolean> {
  if (await database.withTenant(ctx, (tx) => isBlobReferenced(tx, sha256))) return false;
  return store.delete(sha256);
}
