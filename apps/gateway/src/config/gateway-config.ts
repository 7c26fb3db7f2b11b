import { blobStoreEnv, s3NeedsBucket } from '@tessera/storage';
import { webhookSecretKeyEnv, webhookSecretKeyInProduction } from '@tessera/webhooks';
import { z } from 'zod';

const configSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    HOST: z.string().default('127.0.0.1'),
    DATABASE_URL: z.string().min(1, "DATABASE_URL is required (the tessera_app role's connection)"),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).default(10),
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    PLATFORM_ADMIN_KEY: z.string().min(24, 'PLATFORM_ADMIN_KEY must be at least 24 characters'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
    RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
    IDEMPOTENCY_TTL_SECONDS: z.coerce.number().int().min(60).default(86_400),
    /** How long a key read from Postgres authenticates from memory; changes reach every gateway at once over Redis. 0: no cache. */
    API_KEY_CACHE_MS: z.coerce.number().int().min(0).max(300_000).default(10_000),
    /** Namespace of the BullMQ keys in Redis; gateway and workers of one deployment share it. */
    QUEUE_PREFIX: z.string().min(1).default('bull'),
    ...blobStoreEnv,
    ...webhookSecretKeyEnv,
    /** Lets webhook URLs resolve to private or loopback addresses (tests, single-machine setups). */
    WEBHOOK_ALLOW_PRIVATE: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    /** How long an inference request waits for a worker's next event before a 503. */
    INFER_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
    ADAPTER_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(512 * 1_048_576),
    /** The one-request upload, PUT …/model.safetensors; larger checkpoints come in shards and parts. */
    BASE_MODEL_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(1024 * 1_048_576),
    /** One shard file uploaded in parts: 5 GiB, transformers' default shard size and S3's largest single PUT. */
    BASE_MODEL_MAX_SHARD_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(5 * 1024 * 1_048_576),
    /** Bytes of every part but a shard's last: what one request carries and the gateway holds while assembling. */
    BASE_MODEL_PART_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(64 * 1_048_576),
    /** Parts one shard may have (its size over BASE_MODEL_PART_BYTES, rounded up). */
    BASE_MODEL_MAX_PARTS: z.coerce.number().int().min(1).default(10_000),
    /** Shard files one base model may have. */
    BASE_MODEL_MAX_SHARDS: z.coerce.number().int().min(1).default(1_000),
    DATASET_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(100 * 1_048_576),
    /** A dataset line (one record) longer than this refuses the upload on the spot (413). */
    DATASET_MAX_LINE_BYTES: z.coerce.number().int().min(1).default(1_048_576),
    /** A document's records together, as uploaded; bounds what one document costs a fine-tune or a deletion's audit. */
    DATASET_MAX_DOCUMENT_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(4 * 1_048_576),
    /** Documents one upload may hold: each is kept in memory while the upload streams and becomes a row. */
    DATASET_MAX_DOCUMENTS: z.coerce.number().int().min(1).default(100_000),
    /** How many bad lines an upload's 400 lists (all are counted). */
    DATASET_MAX_ERRORS: z.coerce.number().int().min(1).max(1000).default(20),
    /** The built dashboard (apps/dashboard/dist) to serve at /; unset, the gateway serves only the API. */
    DASHBOARD_DIR: z.string().min(1).optional(),
  })
  .refine(...s3NeedsBucket)
  .refine(...webhookSecretKeyInProduction);

export type GatewayConfig = z.infer<typeof configSchema>;

/** Reads the gateway's settings from the environment; throws naming every bad variable. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid gateway configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
