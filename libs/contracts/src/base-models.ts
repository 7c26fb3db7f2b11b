import { z } from 'zod';
import { idSchema } from './id.js';
import { text } from './text.js';

const timestamp = z.iso.datetime();
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 digest: 64 lowercase hex digits');

/**
 * How a base model's weights are kept when served. Checkpoints are read in F32, F16 or BF16
 * whatever is chosen; int8 and int4 are weight-only quantization made by the workers.
 */
export const baseModelPrecisionSchema = z
  .enum(['fp32', 'fp16', 'bf16', 'int8', 'int4'])
  .meta({ id: 'BaseModelPrecision' });
export type BaseModelPrecision = z.infer<typeof baseModelPrecisionSchema>;

const baseModelName = text(100).regex(
  /^[a-z0-9][a-z0-9._-]*$/,
  'lowercase letters, digits, dot, dash and underscore, starting with a letter or digit',
);

/** A shard as a checkpoint's index names it: one file name (no folders) ending in .safetensors. */
export const shardFileSchema = z
  .string()
  .max(200)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*\.safetensors$/,
    'a file name ending in .safetensors: letters, digits, dot, dash and underscore, no folders',
  );

export const baseModelSchema = z
  .object({
    id: idSchema('bm'),
    name: z.string(),
    architecture: z.enum(['gpt2', 'llama']),
    config: z.record(z.string(), z.unknown()),
    owner: z.enum(['platform', 'tenant']),
    status: z
      .enum(['uploading', 'ready'])
      .describe(
        'Imported checkpoints are uploading until every shard has arrived and the whole checkpoint was validated',
      ),
    precision: baseModelPrecisionSchema,
    has_tokenizer: z.boolean().describe('Whether tokenizer.json was uploaded; without it the model reads bytes'),
    created_at: timestamp,
  })
  .meta({ id: 'BaseModel' });
export type BaseModelDto = z.infer<typeof baseModelSchema>;

export const registerBaseModelSchema = z
  .strictObject({
    name: baseModelName,
    config: z
      .record(z.string(), z.unknown())
      .describe("The checkpoint's Hugging Face config.json (model_type gpt2 or llama)"),
    precision: baseModelPrecisionSchema.optional().describe('Default fp32'),
  })
  .meta({ id: 'RegisterBaseModelRequest' });
export type RegisterBaseModel = z.infer<typeof registerBaseModelSchema>;

/** Hugging Face's tokenizer.json and, for special tokens and the chat template, tokenizer_config.json. */
export const baseModelTokenizerSchema = z
  .strictObject({
    tokenizer: z.record(z.string(), z.unknown()).describe('tokenizer.json'),
    tokenizer_config: z.record(z.string(), z.unknown()).optional().describe('tokenizer_config.json'),
  })
  .meta({ id: 'BaseModelTokenizer' });
export type BaseModelTokenizer = z.infer<typeof baseModelTokenizerSchema>;

/** model.safetensors.index.json as transformers writes it: which shard holds each tensor. */
export const checkpointIndexSchema = z
  .object({
    metadata: z.record(z.string(), z.unknown()).optional().describe('e.g. total_size; kept but not relied on'),
    weight_map: z
      .record(text(500), shardFileSchema)
      .refine((map) => Object.keys(map).length > 0, 'names no tensor')
      .describe('Tensor name → the shard file that holds it'),
  })
  .meta({ id: 'CheckpointIndex' });
export type CheckpointIndex = z.infer<typeof checkpointIndexSchema>;

/** The shard files an index names, in order (transformers numbers them, so by name is their order). */
export function indexShardFiles(index: CheckpointIndex): string[] {
  return [...new Set(Object.values(index.weight_map))].sort();
}

export const startShardUploadSchema = z
  .strictObject({
    size: z.number().int().min(1).describe('Bytes of the whole shard file'),
    sha256: sha256Hex.describe('sha256 of the whole shard file (hex): the assembled file must match it'),
  })
  .meta({ id: 'StartShardUploadRequest' });
export type StartShardUpload = z.infer<typeof startShardUploadSchema>;

export const shardUploadSchema = z
  .object({
    file: shardFileSchema,
    size: z.number().int(),
    sha256: sha256Hex,
    status: z
      .enum(['receiving', 'complete'])
      .describe('receiving until every part has arrived and the assembled file matched sha256'),
    part_size: z.number().int().describe('Bytes of every part but the last, which holds the rest'),
    part_count: z.number().int(),
    parts_received: z
      .array(z.number().int())
      .describe('Part numbers (from 1) already received: a resumed upload sends only the others'),
    created_at: timestamp,
  })
  .meta({ id: 'ShardUpload' });
export type ShardUploadDto = z.infer<typeof shardUploadSchema>;

export const shardPartSchema = z
  .object({ part_number: z.number().int(), size: z.number().int(), sha256: sha256Hex })
  .meta({ id: 'ShardPart' });
export type ShardPartDto = z.infer<typeof shardPartSchema>;

export const registerPlatformBaseModelSchema = z
  .strictObject({
    name: baseModelName,
    prefix: text(512)
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*\/?$/,
        'path segments of letters, digits, dot, dash and underscore, none starting with a dot',
      )
      .describe(
        "The checkpoint's folder in the platform checkpoint store (DATA_DIR/checkpoints/<prefix>/, or <S3_PREFIX>checkpoints/<prefix>/ in the bucket): config.json, model.safetensors or model.safetensors.index.json and its shards, optionally tokenizer.json and tokenizer_config.json",
      ),
    precision: baseModelPrecisionSchema.optional().describe('Default fp32'),
  })
  .meta({ id: 'RegisterPlatformBaseModelRequest' });
export type RegisterPlatformBaseModel = z.infer<typeof registerPlatformBaseModelSchema>;

/**
 * A ready base model's weights as its row keeps them (parse on read): each shard's file name,
 * size, and the tenant blob that holds it (null for a platform checkpoint read in place).
 */
export const storedShardsSchema = z
  .array(
    z.strictObject({
      file: shardFileSchema,
      bytes: z.number().int().min(0),
      sha256: sha256Hex.nullable(),
    }),
  )
  .min(1);
export type StoredShards = z.infer<typeof storedShardsSchema>;
