import os from 'node:os';
import path from 'node:path';
import { EXECUTION_PROVIDERS } from '@tessera/engine';
import { STANDARD_RETRY_SCHEDULE_MS } from '@tessera/queue';
import { blobStoreEnv, s3NeedsBucket } from '@tessera/storage';
import { webhookSecretKeyEnv, webhookSecretKeyInProduction } from '@tessera/webhooks';
import { z } from 'zod';

/** models/ of this repository: where `builtin:<name>` base models live. */
const REPO_MODELS = path.resolve(import.meta.dirname, '../../../models');

const configSchema = z
  .object({
    DATABASE_URL: z.string().min(1, "DATABASE_URL is required (the tessera_app role's connection)"),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).default(4),
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    QUEUE_PREFIX: z.string().min(1).default('bull'),
    ...blobStoreEnv,
    MODELS_DIR: z.string().default(REPO_MODELS),
    /** Base models' weight files (written once per model and precision, mapped by every session). */
    WEIGHTS_CACHE_DIR: z.string().default(path.join(os.tmpdir(), 'tessera-weights')),
    /** onnxruntime intra-op threads; fixed so a resumed job computes exactly what it would have. */
    WORKER_THREADS: z.coerce.number().int().min(1).default(os.availableParallelism()),
    /**
     * Where graphs run: cpu, webgpu (onnxruntime-node's own library, on a host with a Vulkan GPU
     * driver) or cuda (needs ORT's CUDA provider libraries: the CUDA worker image). One that
     * cannot start falls back to cpu, said once in the log and shown on /readyz and /metrics.
     */
    EXECUTION_PROVIDER: z.enum(EXECUTION_PROVIDERS).default('cpu'),
    /** How often the worker renews its record (provider, device) that gateways list; it lapses after three. */
    WORKER_HEARTBEAT_MS: z.coerce.number().int().min(100).default(5000),
    /** How long a job's lock lasts without renewal: a killed worker's job is picked up after about this long. */
    LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(30_000),
    STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(15_000),
    /** Base models (ids) whose `infer.<id>` queues this worker serves; empty: none. Default: the demo model. */
    INFER_BASE_MODELS: z
      .string()
      .regex(/^(bm_[0-9A-Za-z]{26}(,bm_[0-9A-Za-z]{26})*)?$/, 'comma-separated base model ids')
      .default('bm_00000000000000000000000001')
      .transform((s) => (s ? s.split(',') : [])),
    /** Largest adapter rank served (the slot pool's width; smaller ranks are zero-padded). */
    INFER_MAX_RANK: z.coerce.number().int().min(1).max(256).default(16),
    /** Adapters resident on the device at once (the slot pool, slot 0 not counted). */
    INFER_SLOTS: z.coerce.number().int().min(1).max(1024).default(64),
    /** Requests decoding together in one forward pass. */
    INFER_MAX_BATCH: z.coerce.number().int().min(1).max(512).default(32),
    /**
     * Tokens of context the KV cache holds per base model across all requests (0: INFER_MAX_BATCH
     * full contexts of the model). A request waits until its prompt and max_tokens fit.
     */
    INFER_KV_CACHE_TOKENS: z.coerce.number().int().min(0).default(0),
    /** Keep prompt blocks for reuse by later prompts of the same tenant (shared system prompts, chat templates). */
    INFER_PREFIX_CACHE: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
    /**
     * A second session per base model, without the per-token router, for decode steps in which
     * no request routes per token: 4–8% more throughput on CPU (bench/results/inference.json) for the base weights held twice.
     */
    INFER_FIXED_GATES_SESSION: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
    /** Adapters kept in host memory between the blob store and the slots. */
    ADAPTER_CACHE_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(512 * 1_048_576),
    LOG_LEVEL: z.enum(['error', 'warn', 'info', 'silent']).default('info'),
    ...webhookSecretKeyEnv,
    /** Delay before each delivery attempt, first to last (default: Standard Webhooks' schedule). */
    WEBHOOK_RETRY_SCHEDULE_MS: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma-separated milliseconds, e.g. 0,5000,300000')
      .default(STANDARD_RETRY_SCHEDULE_MS.join(','))
      .transform((s) => s.split(',').map(Number)),
    WEBHOOK_ALLOW_PRIVATE: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).default(16),
    /**
     * The reconciler's pass: every job or delivery Postgres says is unfinished but that has no live
     * queue entry is enqueued again. Rows younger than the settle time are left to their creator.
     * Lost work is back on its queue within settle + interval (20 s by default). 0 turns it off:
     * only for deployments that share one database with others (the tests), where it would take
     * their work onto this deployment's queues.
     */
    RECONCILE_INTERVAL_MS: z.coerce
      .number()
      .int()
      .refine((ms) => ms === 0 || ms >= 100, 'at least 100, or 0 for off')
      .default(10_000),
    RECONCILE_SETTLE_MS: z.coerce.number().int().min(0).default(10_000),
    /** How long a deletion waits for every worker to drop the stale weights from memory; the proof says who answered. */
    CACHE_EVICTION_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
    /** How often a sweep of staged leftovers and unreferenced blobs is due (blob-sweeper.ts); one worker runs it. */
    BLOB_SWEEP_INTERVAL_MS: z.coerce.number().int().min(1000).default(3_600_000),
    /**
     * Staged uploads and unreferenced blobs younger than this are kept. It must exceed the longest
     * upload plus the work and transaction before its row commits: a younger blob no row refers to
     * may be one whose row is on its way.
     */
    BLOB_SWEEP_GRACE_MS: z.coerce.number().int().min(60_000).default(86_400_000),
  })
  .refine(...s3NeedsBucket)
  .refine(...webhookSecretKeyInProduction);

export type WorkerConfig = z.infer<typeof configSchema>;

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      `invalid worker configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  }
  return parsed.data;
}
