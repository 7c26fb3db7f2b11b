import { Database } from '@tessera/db';
import { QUEUES, redisConnection, type TrainJobData } from '@tessera/queue';
import { blobStoreSettings, tenantBlobStores } from '@tessera/storage';
import { Worker } from 'bullmq';
import { BaseModelLoader } from './base-models.js';
import { runFineTune } from './fine-tune-job.js';
import { loadWorkerConfig } from './worker-config.js';

/**
 * The worker process: consumes the `train` queue one job at a time (a training step uses
 * every core). A killed worker's job is picked up by another once its lock lapses; on
 * SIGTERM the running job checkpoints and goes back to the queue.
 */
const config = loadWorkerConfig();
const log = (line: string, level: 'info' | 'warn' = 'info') => {
  const shown = config.LOG_LEVEL === 'info' || (level === 'warn' && config.LOG_LEVEL === 'warn');
  if (shown) console.log(JSON.stringify({ time: new Date().toISOString(), level, msg: line }));
};
const database = new Database({ connectionString: config.DATABASE_URL, maxConnections: config.DATABASE_POOL_SIZE });
const blobs = tenantBlobStores(blobStoreSettings(config));
const models = new BaseModelLoader(config.MODELS_DIR);
const shutdown = new AbortController();

const worker = new Worker<TrainJobData>(
  QUEUES.train,
  (job) => {
    log(`job ${job.data.jobId}: attempt ${job.attemptsMade + 1}`);
    return runFineTune(job, { database, blobs, models, threads: config.WORKER_THREADS, executionProvider: config.EXECUTION_PROVIDER, shutdown: shutdown.signal, log });
  },
  {
    connection: redisConnection(config.REDIS_URL),
    prefix: config.QUEUE_PREFIX,
    concurrency: 1,
    lockDuration: config.LOCK_DURATION_MS,
    stalledInterval: config.STALLED_INTERVAL_MS,
    maxStalledCount: 5,
  },
);
worker.on('completed', (job) => log(`job ${job.data.jobId}: done`));
worker.on('failed', (job, error) => log(`job ${job?.data.jobId}: ${error.message}`, 'warn'));
worker.on('error', (error) => log(`queue error: ${error.message}`, 'warn'));
await worker.waitUntilReady();
log(`worker ready: queue ${QUEUES.train}, ${config.WORKER_THREADS} threads, ${config.EXECUTION_PROVIDER}`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: checkpointing the running job and stopping`);
    shutdown.abort();
    void worker
      .close()
      .then(() => database.disconnect())
      .then(() => process.exit(0));
  });
}
