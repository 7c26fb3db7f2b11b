import { hostname } from 'node:os';
import { Database } from '@tessera/db';
import { probeExecutionProvider } from '@tessera/engine';
import {
  acknowledgeEviction,
  broadcastEviction,
  cacheEvictionChannel,
  composeQueue,
  inferCancelChannel,
  inferEventChannel,
  inferQueue,
  keepWorkerAnnounced,
  QUEUES,
  redisConnection,
  reportOutages,
  trainQueue,
  webhookQueue,
  type CacheEviction,
  type ComposeJobData,
  type InferJobData,
  type TrainJobData,
  type TrainJobName,
  type WebhookJobData,
} from '@tessera/queue';
import { blobStoreSettings, tenantBlobStores } from '@tessera/storage';
import { attemptDelivery, webhookSecretBox } from '@tessera/webhooks';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BaseModelLoader } from './base-models.js';
import { PlacementProbers } from './placement-probers.js';
import { runCompose } from './compose-job.js';
import { runDeletion } from './deletion-job.js';
import { runFineTune } from './fine-tune-job.js';
import { type JobDeps } from './job-deps.js';
import { runPartitionedParent } from './partitioned-job.js';
import { startBlobSweeper } from './blob-sweeper.js';
import { startReconciler } from './reconciler.js';
import { InferenceServer } from './inference.js';
import { loadWorkerConfig } from './worker-config.js';

/**
 * The worker process: consumes the `train` queue one job at a time (a training step uses
 * every core). A killed worker's job is picked up by another once its lock lapses; on
 * SIGTERM the running job checkpoints and goes back to the queue.
 */
const config = loadWorkerConfig();
// `start` lines (ready, stopping) show at every level but silent: scripts wait for them.
const log = (line: string, level: 'info' | 'warn' | 'start' = 'info') => {
  const shown =
    config.LOG_LEVEL === 'info' ||
    (level !== 'info' && config.LOG_LEVEL === 'warn') ||
    (level === 'start' && config.LOG_LEVEL !== 'silent');
  if (shown) console.log(JSON.stringify({ time: new Date().toISOString(), level, msg: line }));
};
const database = new Database({ connectionString: config.DATABASE_URL, maxConnections: config.DATABASE_POOL_SIZE });
const blobs = tenantBlobStores(blobStoreSettings(config));
const models = new BaseModelLoader(config.MODELS_DIR, blobs, config.WEIGHTS_CACHE_DIR);
const shutdown = new AbortController();
// Which provider sessions get is settled once, here: a fallback is logged once and announced below.
const provider = await probeExecutionProvider(config.EXECUTION_PROVIDER, (line) => log(line, 'warn'));
const connection = redisConnection(config.REDIS_URL);
const webhooks = webhookQueue(connection, config.QUEUE_PREFIX);
/** What fine-tune, deletion and compose jobs share. */
const jobDeps: JobDeps = {
  database,
  blobs,
  models,
  probers: new PlacementProbers({ threads: config.WORKER_THREADS, executionProvider: provider.active }),
  webhooks,
  threads: config.WORKER_THREADS,
  executionProvider: provider.active,
  log,
};

const compose = composeQueue(connection, config.QUEUE_PREFIX);
// Blocking pops need a connection of their own: one for the deletions' wait for acknowledgements.
const evictionWaits = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
const deletionDeps = {
  ...jobDeps,
  compose,
  evictCaches: (eviction: CacheEviction) =>
    broadcastEviction(evictionWaits, config.QUEUE_PREFIX, eviction, config.CACHE_EVICTION_TIMEOUT_MS),
};

const worker = new Worker<TrainJobData, unknown, TrainJobName>(
  QUEUES.train,
  (job, token) => {
    log(`job ${job.data.jobId} (${job.name}): attempt ${job.attemptsMade + 1}`);
    switch (job.name) {
      case 'fine_tune':
        return runFineTune(job, { ...jobDeps, shutdown: shutdown.signal });
      case 'partitioned':
        return runPartitionedParent(job, { database, webhooks }, token);
      case 'deletion':
        return runDeletion(job, deletionDeps);
      default:
        throw new UnrecoverableError(`unknown train job name ${String(job.name)}: a gateway newer than this worker?`);
    }
  },
  {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: 1,
    lockDuration: config.LOCK_DURATION_MS,
    stalledInterval: config.STALLED_INTERVAL_MS,
    maxStalledCount: 5,
  },
);
worker.on('completed', (job) => log(`job ${job.data.jobId}: done`));
worker.on('failed', (job, error) => log(`job ${job?.data.jobId}: ${error.message}`, 'warn'));
// Compositions: merges take milliseconds, a learned gate trains for seconds; one at a time.
const composer = new Worker<ComposeJobData>(QUEUES.compose, (job) => runCompose(job, jobDeps), {
  connection,
  prefix: config.QUEUE_PREFIX,
  concurrency: 1,
  lockDuration: config.LOCK_DURATION_MS,
  stalledInterval: config.STALLED_INTERVAL_MS,
});
composer.on('completed', (job) => log(`composition ${job.data.compositionId}: ready`));
composer.on('failed', (job, error) => log(`composition ${job?.data.compositionId}: ${error.message}`, 'warn'));
// Webhook deliveries: many at once, each a short HTTP call; retries are scheduled as delayed jobs.
const secretBox = webhookSecretBox(config);
const deliveries = new Worker<WebhookJobData>(
  QUEUES.webhooks,
  (job) =>
    attemptDelivery(database, webhooks, job.data, {
      retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS,
      allowPrivateAddresses: config.WEBHOOK_ALLOW_PRIVATE,
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      secretBox,
    }),
  { connection, prefix: config.QUEUE_PREFIX, concurrency: config.WEBHOOK_CONCURRENCY },
);
deliveries.on('failed', (job, error) => log(`delivery ${job?.data.deliveryId}: ${error.message}`, 'warn'));

// Inference: many requests at once per base model; the engine batches them step by step.
// Events go out on plain pub/sub (the gateway subscribed before enqueueing); cancels come in.
const publisher = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
const cancels = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
// Inference events on a connection of their own that auto-pipelines: every row's frame of one
// decode step is published in the same tick, so they leave in one write, not one per request.
const tokenPublisher = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, enableAutoPipelining: true });
const workerName = `${hostname()}:${process.pid}`;
const inference = new InferenceServer({
  database,
  blobs,
  models,
  threads: config.WORKER_THREADS,
  executionProvider: provider.active,
  maxRank: config.INFER_MAX_RANK,
  slots: config.INFER_SLOTS,
  maxBatch: config.INFER_MAX_BATCH,
  kvCacheTokens: config.INFER_KV_CACHE_TOKENS,
  prefixCache: config.INFER_PREFIX_CACHE,
  fixedGatesSession: config.INFER_FIXED_GATES_SESSION,
  adapterCacheBytes: config.ADAPTER_CACHE_BYTES,
  publish: (requestId, event) =>
    tokenPublisher.publish(inferEventChannel(config.QUEUE_PREFIX, requestId), JSON.stringify(event)),
  log,
});
// One subscriber connection: cancels of running requests, and deletions' cache evictions.
const evictions = cacheEvictionChannel(config.QUEUE_PREFIX);
await cancels.subscribe(inferCancelChannel(config.QUEUE_PREFIX), evictions);
cancels.on('message', (channel, message: string) => {
  if (channel !== evictions) return inference.cancel(message);
  const eviction = JSON.parse(message) as CacheEviction;
  void inference
    .evict(eviction)
    .then((dropped) =>
      acknowledgeEviction(publisher, config.QUEUE_PREFIX, eviction.id, { worker: workerName, ...dropped }),
    )
    .then(() => log(`evicted what deletion ${eviction.id} made stale`))
    .catch((error: Error) => log(`evicting for deletion ${eviction.id} failed: ${error.message}`, 'warn'));
});
const inferWorkers = config.INFER_BASE_MODELS.map((id) => {
  const consumer = new Worker<InferJobData>(inferQueue(id), (job) => inference.handle(job), {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.INFER_MAX_BATCH * 2,
  });
  return consumer;
});
await Promise.all([
  worker.waitUntilReady(),
  composer.waitUntilReady(),
  deliveries.waitUntilReady(),
  ...inferWorkers.map((w) => w.waitUntilReady()),
]);
// Postgres is the source of truth: what it says is unfinished but no queue holds goes back on one.
const train = trainQueue(connection, config.QUEUE_PREFIX);
const reconciled =
  config.RECONCILE_INTERVAL_MS === 0
    ? Promise.resolve()
    : startReconciler(
        {
          database,
          redis: publisher,
          prefix: config.QUEUE_PREFIX,
          train,
          compose,
          webhooks,
          settleMs: config.RECONCILE_SETTLE_MS,
          log,
        },
        config.RECONCILE_INTERVAL_MS,
        shutdown.signal,
      );
// Crashes leave staged uploads and blobs no row refers to; the sweeper removes those past their grace.
const blobSweeps = startBlobSweeper(
  { database, blobs, redis: publisher, prefix: config.QUEUE_PREFIX, graceMs: config.BLOB_SWEEP_GRACE_MS, log },
  config.BLOB_SWEEP_INTERVAL_MS,
  shutdown.signal,
);
// During a Redis outage every client retries on its own; each says so once a minute, not per attempt.
for (const [name, client] of Object.entries({
  webhooks,
  compose,
  train,
  evictionWaits,
  publisher,
  tokenPublisher,
  cancels,
}))
  reportOutages(client, name, (line) => log(line, 'warn'));
for (const [name, consumer] of Object.entries({
  worker,
  composer,
  deliveries,
  ...Object.fromEntries(inferWorkers.map((w) => [w.name, w])),
}))
  reportOutages(consumer, `${name} worker`, (line) => log(line, 'warn'));
const queues = [QUEUES.train, QUEUES.compose, QUEUES.webhooks, ...config.INFER_BASE_MODELS.map(inferQueue)];
// Gateways list the live workers (provider, device) from these records on /readyz and /metrics.
const announced = keepWorkerAnnounced(
  publisher,
  config.QUEUE_PREFIX,
  {
    worker: workerName,
    queues,
    threads: config.WORKER_THREADS,
    provider: {
      requested: provider.requested,
      active: provider.active,
      ...(provider.fallback ? { fallback: provider.fallback } : {}),
    },
    device: provider.device,
    startedAt: new Date().toISOString(),
  },
  config.WORKER_HEARTBEAT_MS,
  shutdown.signal,
);
const onDevice = `${provider.active} on ${provider.device.name}`;
log(
  `worker ready: queues ${queues.join(', ')}, ${config.WORKER_THREADS} threads, ${onDevice}${provider.fallback ? ` (${provider.requested} unavailable)` : ''}`,
  'start',
);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: checkpointing the running job and stopping`, 'start');
    shutdown.abort();
    void Promise.all([worker.close(), composer.close(), deliveries.close(), ...inferWorkers.map((w) => w.close())])
      .then(() => Promise.all([reconciled, blobSweeps, announced]))
      .then(() =>
        Promise.all([
          webhooks.close(),
          compose.close(),
          train.close(),
          publisher.quit(),
          tokenPublisher.quit(),
          cancels.quit(),
          evictionWaits.quit(),
        ]),
      )
      .then(() => database.disconnect())
      .then(() => process.exit(0));
  });
}
