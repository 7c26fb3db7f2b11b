import path from 'node:path';
import type { Provider } from '@nestjs/common';
import { S3Client } from '@aws-sdk/client-s3';
import { FsBlobStore, S3BlobStore, type BlobStore } from '@tessera/storage';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

/**
 * Each tenant's blobs live in their own namespace (a directory, a key prefix): identical
 * bytes of two tenants are two blobs, so erasing one tenant's data never touches another's.
 */
export interface TenantBlobStores {
  forTenant(tenantId: string): BlobStore;
}

export const BLOB_STORES = Symbol('BLOB_STORES');

export const blobStoreProvider: Provider = {
  provide: BLOB_STORES,
  inject: [GATEWAY_CONFIG],
  useFactory: (config: GatewayConfig): TenantBlobStores => {
    if (config.BLOB_STORE === 'fs') {
      const root = path.resolve(config.DATA_DIR, 'blobs');
      return { forTenant: (tenantId) => new FsBlobStore(path.join(root, tenantId)) };
    }
    // Credentials come from the AWS SDK's usual chain (environment, profile, instance role).
    const client = new S3Client({ region: config.S3_REGION, ...(config.S3_ENDPOINT ? { endpoint: config.S3_ENDPOINT, forcePathStyle: true } : {}) });
    const spoolDir = path.resolve(config.DATA_DIR, 'spool');
    return { forTenant: (tenantId) => new S3BlobStore({ client, bucket: config.S3_BUCKET!, prefix: `${config.S3_PREFIX}${tenantId}/`, spoolDir }) };
  },
};
