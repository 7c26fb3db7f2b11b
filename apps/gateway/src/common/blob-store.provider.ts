import type { Provider } from '@nestjs/common';
import { blobStoreSettings, tenantBlobStores, type TenantBlobStores } from '@tessera/storage';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

export type { TenantBlobStores };
export const BLOB_STORES = Symbol('BLOB_STORES');

export const blobStoreProvider: Provider = {
  provide: BLOB_STORES,
  inject: [GATEWAY_CONFIG],
  useFactory: (config: GatewayConfig): TenantBlobStores => tenantBlobStores(blobStoreSettings(config)),
};
