export {
  BlobCorruptedError,
  BlobNotFoundError,
  BlobRangeError,
  BlobTooLargeError,
  blobFile,
  checkAddress,
} from './blob-store.js';
export type { BlobRef, BlobSource, BlobStore, RangedFile, StagedUpload, StoredBlob } from './blob-store.js';
export {
  CHECKPOINTS_NAMESPACE,
  checkCheckpointPrefix,
  checkpointFile,
  FsCheckpointStore,
  S3CheckpointStore,
} from './checkpoint-store.js';
export type { CheckpointStore } from './checkpoint-store.js';
export { FsBlobStore } from './fs-blob-store.js';
export { S3BlobStore } from './s3-blob-store.js';
export type { S3BlobStoreOptions } from './s3-blob-store.js';
export { tenantBlobStores } from './tenant-blob-stores.js';
export type { BlobStoreSettings, TenantBlobStores } from './tenant-blob-stores.js';
export { blobStoreEnv, blobStoreSettings, s3NeedsBucket } from './blob-store-env.js';
