import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from './blob-store.js';
import {
  CHECKPOINTS_NAMESPACE,
  checkCheckpointPrefix,
  FsCheckpointStore,
  S3CheckpointStore,
  type CheckpointStore,
} from './checkpoint-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

/**
 * Each tenant's blobs live in their own namespace (a directory, a key prefix): identical
 * bytes of two tenants are two blobs, so erasing one tenant's data never touches another's.
 */
export interface TenantBlobStores {
  forTenant(tenantId: string): BlobStore;
  /**
   * A checkpoint the platform keeps in place under `prefix` (see CheckpointStore), in the same
   * storage: `<DATA_DIR>/checkpoints/<prefix>/` or `<S3_PREFIX>checkpoints/<prefix>/` in the bucket.
   */
  platformCheckpoint(prefix: string): CheckpointStore;
}

export type BlobStoreSettings =
  | { kind: 'fs'; dataDir: string }
  | { kind: 's3'; dataDir: string; bucket: string; prefix?: string; endpoint?: string; region?: string };

export function tenantBlobStores(settings: BlobStoreSettings): TenantBlobStores {
  if (settings.kind === 'fs') {
    const root = path.resolve(settings.dataDir, 'blobs');
    const checkpoints = path.resolve(settings.dataDir, CHECKPOINTS_NAMESPACE);
    return {
      forTenant: (tenantId) => new FsBlobStore(path.join(root, tenantId)),
      platformCheckpoint: (prefix) => new FsCheckpointStore(path.join(checkpoints, checkCheckpointPrefix(prefix))),
    };
  }
  // Credentials come from the AWS SDK's usual chain (environment, profile, instance role).
  const client = new S3Client({
    region: settings.region ?? 'us-east-1',
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
  });
  const spoolRoot = path.resolve(settings.dataDir, 'spool');
  return {
    forTenant: (tenantId) =>
      new S3BlobStore({
        client,
        bucket: settings.bucket,
        prefix: `${settings.prefix ?? ''}${tenantId}/`,
        // Per tenant, like the keys: each store's staging() lists only its own uploads.
        spoolDir: path.join(spoolRoot, tenantId),
      }),
    platformCheckpoint: (prefix) =>
      new S3CheckpointStore(
        client,
        settings.bucket,
        `${settings.prefix ?? ''}${CHECKPOINTS_NAMESPACE}/${checkCheckpointPrefix(prefix)}/`,
      ),
  };
}
