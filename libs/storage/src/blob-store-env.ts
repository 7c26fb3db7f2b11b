import { z } from 'zod';
import type { BlobStoreSettings } from './tenant-blob-stores.js';

/** The blob store's environment variables, shared by every process that reads or writes blobs. */
export const blobStoreEnv = {
  /** `fs` keeps blobs under DATA_DIR/blobs; `s3` in S3_BUCKET (S3_ENDPOINT for S3-compatible servers). */
  BLOB_STORE: z.enum(['fs', 's3']).default('fs'),
  DATA_DIR: z.string().default('.data'),
  S3_BUCKET: z.string().optional(),
  S3_PREFIX: z.string().default(''),
  S3_ENDPOINT: z.string().optional(),
  S3_REGION: z.string().default('us-east-1'),
};

type BlobStoreEnv = z.infer<z.ZodObject<typeof blobStoreEnv>>;

/** A refinement for the whole config: S3 needs its bucket. */
export const s3NeedsBucket: [(c: BlobStoreEnv) => boolean, { message: string; path: string[] }] = [
  (c) => c.BLOB_STORE !== 's3' || !!c.S3_BUCKET,
  { message: 'S3_BUCKET is required when BLOB_STORE=s3', path: ['S3_BUCKET'] },
];

export function blobStoreSettings(env: BlobStoreEnv): BlobStoreSettings {
  if (env.BLOB_STORE === 'fs') return { kind: 'fs', dataDir: env.DATA_DIR };
  return {
    kind: 's3',
    dataDir: env.DATA_DIR,
    bucket: env.S3_BUCKET!,
    prefix: env.S3_PREFIX,
    region: env.S3_REGION,
    ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT } : {}),
  };
}
