import { z } from 'zod';

const configSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  DATABASE_URL: z.string().min(1, 'DATABASE_URL is required (the tessera_app role\'s connection)'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).default(10),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  PLATFORM_ADMIN_KEY: z.string().min(24, 'PLATFORM_ADMIN_KEY must be at least 24 characters'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
  IDEMPOTENCY_TTL_SECONDS: z.coerce.number().int().min(60).default(86_400),
  /** Blob store: `fs` keeps blobs under DATA_DIR/blobs; `s3` in S3_BUCKET (S3_ENDPOINT for S3-compatible servers). */
  BLOB_STORE: z.enum(['fs', 's3']).default('fs'),
  DATA_DIR: z.string().default('.data'),
  S3_BUCKET: z.string().optional(),
  S3_PREFIX: z.string().default(''),
  S3_ENDPOINT: z.string().optional(),
  S3_REGION: z.string().default('us-east-1'),
  DATASET_MAX_BYTES: z.coerce.number().int().min(1).default(100 * 1_048_576),
  /** How many bad lines an upload's 400 lists (all are counted). */
  DATASET_MAX_ERRORS: z.coerce.number().int().min(1).max(1000).default(20),
}).refine((c) => c.BLOB_STORE !== 's3' || !!c.S3_BUCKET, { message: 'S3_BUCKET is required when BLOB_STORE=s3', path: ['S3_BUCKET'] });

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
