import type { Database } from '@tessera/db';
import type { WebhookJobData } from '@tessera/queue';
import type { TenantBlobStores } from '@tessera/storage';
import type { Queue } from 'bullmq';
import type { BaseModelLoader } from './base-models.js';

/** What every training-side job of the worker works with. */
export interface JobDeps {
  database: Database;
  blobs: TenantBlobStores;
  models: BaseModelLoader;
  /** Where job outcomes become webhook deliveries. */
  webhooks: Queue<WebhookJobData>;
  threads: number;
  executionProvider: 'cpu' | 'cuda';
  log: (line: string) => void;
}
