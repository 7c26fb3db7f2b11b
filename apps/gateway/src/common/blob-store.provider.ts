import type { Provider } from '@nestjs/common';
import {
  BlobTooLargeError,
  blobStoreSettings,
  tenantBlobStores,
  type BlobSource,
  type BlobStore,
  type TenantBlobStores,
} from '@tessera/storage';
import { ProblemException } from './problem.exception.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

export type { TenantBlobStores };
export const BLOB_STORES = Symbol('BLOB_STORES');

export const blobStoreProvider: Provider = {
  provide: BLOB_STORES,
  inject: [GATEWAY_CONFIG],
  useFactory: (config: GatewayConfig): TenantBlobStores => tenantBlobStores(blobStoreSettings(config)),
};

/** Streams an upload into the store; one over `maxBytes` is a 413 saying what may be how large. */
export async function putUpload(store: BlobStore, body: BlobSource, maxBytes: number, limit: string) {
  try {
    return await store.put(body, { maxBytes });
  } catch (error) {
    if (error instanceof BlobTooLargeError)
      throw new ProblemException('payload-too-large', `${limit} at most ${maxBytes} bytes`);
    throw error;
  }
}
