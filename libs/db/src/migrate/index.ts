export { migrate, SNAPSHOT_FILE } from './migrate.js';
export type { MigrateOptions, MigrateResult } from './migrate.js';
