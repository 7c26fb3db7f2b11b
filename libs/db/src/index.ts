export { Database, APP_ROLE } from './database.js';
export type {
  ApiKeyRecord,
  ConnectionIdentity,
  PoolConnections,
  DatabaseOptions,
  PlatformBaseModelRow,
  TenantTransaction,
  UnfinishedWork,
} from './database.js';
export type { TenantContext } from './tenant-context.js';
export { Prisma } from './generated/prisma/client.js';
export type * from './generated/prisma/models.js';
export * from './generated/prisma/enums.js';
export { isDatabaseOutage, isDatabasePoolExhausted } from './outage.js';
