import type { Provider } from '@nestjs/common';
import { Database } from '@tessera/db';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';

export const databaseProvider: Provider = {
  provide: Database,
  inject: [GATEWAY_CONFIG],
  // The pg pool connects on first query, so the app can be built without a database.
  useFactory: (config: GatewayConfig) =>
    new Database({ connectionString: config.DATABASE_URL, maxConnections: config.DATABASE_POOL_SIZE }),
};
