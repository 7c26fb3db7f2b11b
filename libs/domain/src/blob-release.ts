import type { Database, TenantContext, TenantTransaction } from '@tessera/db';
import type { BlobStore } from '@tessera/storage';

/**
 * Whether any row still points to these bytes. Blobs are content-addressed, so identical
 * content (a retrain that reproduced a version, two datasets with one file) is stored once
 * and shared: bytes are erased only when nothing refers to them.
 */
export async function isBlobReferenced(tx: TenantTransaction, sha256: string): Promise<boolean> {
  const counts = await Promise.all([
    tx.adapterVersion.count({ where: { weightsBlob: sha256 } }),
    tx.composition.count({ where: { artifactBlob: sha256 } }),
    tx.checkpoint.count({ where: { blob: sha256 } }),
    tx.dataset.count({ where: { blob: sha256 } }),
    tx.baseModel.count({ where: { OR: [{ weightsBlob: sha256 }, { tokenizerBlob: sha256 }] } }),
  ]);
  return counts.some((n) => n > 0);
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
