import { z } from 'zod';
import { idSchema } from './id.js';
import { text } from './text.js';

const timestamp = z.iso.datetime();

export const targetModuleSchema = z
  .enum([
    'attn.c_attn',
    'attn.c_proj',
    'mlp.c_fc',
    'mlp.c_proj',
    'self_attn.q_proj',
    'self_attn.k_proj',
    'self_attn.v_proj',
    'self_attn.o_proj',
    'mlp.gate_proj',
    'mlp.up_proj',
    'mlp.down_proj',
  ])
  .meta({ id: 'TargetModule' });

export const packingSchema = z
  .enum(['document_masked', 'cross_document'])
  .describe(
    "How a training row holds several documents. document_masked (TRL's padding-free packing): each attends only to itself, from position 0, as it is served; cross_document: attention and positions run across documents (GPT-style)",
  )
  .meta({ id: 'Packing' });

const hyperparameterFields = {
  rank: z.number().int().min(1).max(64),
  alpha: z.number().positive().max(1024),
  target_modules: z
    .union([z.array(targetModuleSchema).min(1), z.literal('auto')])
    .describe(
      'Default: every projection of the base model. "auto": placements (layer × projection) chosen for this dataset by gradient probing, within placement.budget_params',
    ),
  placement: z
    .strictObject({
      strategy: z
        .literal('gradient_rank')
        .describe("Score each projection by the effective rank of the loss's gradient on a few batches"),
      budget_params: z
        .number()
        .int()
        .min(1)
        .max(10_000_000_000)
        .optional()
        .describe("LoRA parameters the chosen placements may hold at this rank; default: PEFT's default placement's"),
    })
    .meta({ id: 'PlacementRequest' })
    .describe('With target_modules "auto" only'),
  learning_rate: z.number().positive().lt(1),
  epochs: z.number().int().min(1).max(100),
  max_steps: z.number().int().min(1).max(1_000_000).describe('Overrides epochs'),
  batch_size: z.number().int().min(1).max(64),
  max_sequence_length: z.number().int().min(8).max(4096),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  checkpoint_every: z.number().int().min(1).max(100_000).describe('Steps between checkpoints'),
  min_lr_rate: z
    .number()
    .min(0)
    .max(1)
    .describe(
      "The cosine schedule's floor as a share of learning_rate (transformers' cosine_with_min_lr min_lr_rate); 0 decays to 0",
    ),
  adam_beta1: z.number().min(0).lt(1).describe("AdamW's β₁ (transformers' adam_beta1)"),
  adam_beta2: z.number().min(0).lt(1).describe("AdamW's β₂ (transformers' adam_beta2)"),
  adam_epsilon: z.number().positive().max(1).describe("AdamW's ε (transformers' adam_epsilon)"),
  packing: packingSchema,
  eval_every: z
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .describe(
      'Steps between validation evaluations, drawn as the validation curve; 0: at the end only. Default: 10 evaluations spread over the run',
    ),
};

export const HYPERPARAMETER_DEFAULTS = {
  rank: 8,
  alpha: 16,
  learning_rate: 2e-3,
  epochs: 1,
  batch_size: 8,
  max_sequence_length: 128,
  seed: 0,
  checkpoint_every: 25,
  min_lr_rate: 0,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  packing: 'document_masked',
} as const;

/** What a request may set; anything left out takes HYPERPARAMETER_DEFAULTS. */
export const hyperparametersRequestSchema = z
  .strictObject(hyperparameterFields)
  .partial()
  .meta({ id: 'HyperparametersRequest' });

/** A fine-tune's hyperparameters as it runs with them. */
export const hyperparametersSchema = z
  .object({
    ...hyperparameterFields,
    target_modules: hyperparameterFields.target_modules.optional(),
    placement: hyperparameterFields.placement.optional(),
    max_steps: hyperparameterFields.max_steps.optional(),
    eval_every: hyperparameterFields.eval_every.optional(),
  })
  .meta({ id: 'Hyperparameters' });
export type Hyperparameters = z.infer<typeof hyperparametersSchema>;

export function withHyperparameterDefaults(
  given: z.infer<typeof hyperparametersRequestSchema> | undefined,
): Hyperparameters {
  return hyperparametersSchema.parse({ ...HYPERPARAMETER_DEFAULTS, ...given });
}

/**
 * What a job stored before these fields existed trained with (a floor of a tenth of the peak,
 * GPT-style packing): read back, it resumes and retrains as it ran. The warmup's first step and
 * the chat loss mask changed with them and are not kept.
 */
const HYPERPARAMETERS_BEFORE_FIELDS = {
  min_lr_rate: 0.1,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  packing: 'cross_document',
} as const;

/** A job's stored hyperparameters, through the contract. */
export function storedHyperparameters(stored: unknown): Hyperparameters {
  const fields = typeof stored === 'object' && stored !== null ? stored : {};
  return hyperparametersSchema.parse({ ...HYPERPARAMETERS_BEFORE_FIELDS, ...fields });
}

export const createFineTuneSchema = z
  .strictObject({
    base_model: text(200).min(1).describe('A base model, by id (bm_…) or name'),
    dataset_id: idSchema('ds'),
    adapter_name: text(100)
      .regex(
        /^[a-z0-9][a-z0-9._-]*$/,
        'lowercase letters, digits, dot, dash and underscore, starting with a letter or digit',
      )
      .describe('The adapter to create, or to add a version to'),
    hyperparameters: hyperparametersRequestSchema.optional(),
    validation_split: z
      .number()
      .min(0)
      .max(0.5)
      .optional()
      .describe('Share of records held out for validation (default 0.1)'),
    partition_by: z
      .literal('access_group')
      .optional()
      .describe(
        'AdapterSwap: one adapter per access group (and per max_documents_per_partition), each trained on only that partition; adapter_name names the knowledge base (a composition routed per request). Documents already in a partition are not trained again',
      ),
    max_documents_per_partition: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .describe('With partition_by: split a group into partitions of at most this many documents'),
    access_group_id: idSchema('grp')
      .optional()
      .describe(
        'The access group of a new adapter: only keys in it may use it. An existing adapter keeps its own (a different one is a 409; change it with PATCH /v1/adapters/{id})',
      ),
  })
  .meta({ id: 'CreateFineTuneRequest' });
export type CreateFineTune = z.infer<typeof createFineTuneSchema>;

export const jobStatusSchema = z
  .enum(['queued', 'running', 'succeeded', 'failed', 'cancelled'])
  .meta({ id: 'JobStatus' });
export type JobStatus = z.infer<typeof jobStatusSchema>;

export const fineTuneMetricsSchema = z
  .object({
    steps: z.number().int(),
    train_loss: z.number(),
    validation_loss: z.number().nullable(),
    validation_accuracy: z.number().nullable(),
    base_validation_loss: z.number().nullable().describe("The base model's validation loss before training"),
    train_tokens: z.number().int(),
    seconds: z.number(),
    tokens_per_second: z.number(),
  })
  .meta({ id: 'FineTuneMetrics' });
export type FineTuneMetrics = z.infer<typeof fineTuneMetricsSchema>;

export const fineTuneSchema = z
  .object({
    id: idSchema('job'),
    status: jobStatusSchema,
    base_model_id: idSchema('bm'),
    dataset_id: idSchema('ds').nullable(),
    adapter_id: idSchema('ad').nullable(),
    adapter_version_id: idSchema('adv').nullable(),
    hyperparameters: hyperparametersSchema,
    validation_split: z.number(),
    partitions: z
      .array(
        z.object({
          job_id: idSchema('job'),
          adapter_id: idSchema('ad'),
          adapter_version_id: idSchema('adv'),
          access_group_id: idSchema('grp').nullable(),
          documents: z.number().int(),
        }),
      )
      .nullable()
      .describe('A partitioned fine-tune: its partitions, each a fine-tune of its own'),
    parent_job_id: idSchema('job').nullable().describe("A partition's partitioned fine-tune"),
    progress: z.number().describe('0 to 1'),
    metrics: fineTuneMetricsSchema.nullable(),
    error: z.object({ message: z.string() }).nullable(),
    attempts: z.number().int(),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    finished_at: timestamp.nullable(),
  })
  .meta({ id: 'FineTune' });
export type FineTune = z.infer<typeof fineTuneSchema>;

export const jobEventSchema = z
  .object({
    id: idSchema('jev'),
    type: z.enum(['status', 'message', 'metric']),
    message: z.string().nullable(),
    data: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe('Metric events: step, loss, learning_rate, tokens_per_second, validation_loss, …'),
    created_at: timestamp,
  })
  .meta({ id: 'JobEvent' });
export type JobEventDto = z.infer<typeof jobEventSchema>;

export const checkpointSchema = z
  .object({ id: idSchema('ckpt'), step: z.number().int(), created_at: timestamp })
  .meta({ id: 'Checkpoint' });
export type CheckpointDto = z.infer<typeof checkpointSchema>;

export const placementScoreSchema = z
  .object({
    projection: z.string().describe('Layer and projection, e.g. h.2.mlp.c_fc'),
    layer: z.number().int(),
    module: z.string(),
    gradient_rank: z.number().describe("Effective rank of the projection's accumulated weight gradient (sketched)"),
    gradient_norm: z.number(),
  })
  .meta({ id: 'PlacementScore' });

export const placementSchema = z
  .object({
    strategy: z.literal('gradient_rank'),
    budget_params: z.number().int(),
    chosen: z.array(z.string()).describe('The projections the adapter holds factors for'),
    params: z.number().int().describe('LoRA parameters of the chosen placements'),
    scores: z.array(placementScoreSchema),
    probe_seconds: z.number(),
  })
  .meta({ id: 'Placement' });
export type PlacementDto = z.infer<typeof placementSchema>;

export const adapterVersionStatusSchema = z
  .enum(['queued', 'training', 'ready', 'stale', 'archived', 'deleted'])
  .meta({ id: 'AdapterVersionStatus' });

export const adapterVersionSchema = z
  .object({
    id: idSchema('adv'),
    adapter_id: idSchema('ad'),
    version: z.number().int(),
    status: adapterVersionStatusSchema,
    rank: z.number().int(),
    alpha: z.number(),
    target_modules: z.array(z.string()),
    placement: placementSchema.nullable().describe('Set when the fine-tune asked target_modules "auto"'),
    seed: z.number().int(),
    weights_sha256: z.string().nullable().describe('Content address of adapter_model.safetensors'),
    metrics: fineTuneMetricsSchema.nullable(),
    training_job_id: idSchema('job').nullable(),
    document_count: z.number().int().describe('Documents that trained this version'),
    created_at: timestamp,
    ready_at: timestamp.nullable(),
  })
  .meta({ id: 'AdapterVersion' });
export type AdapterVersionDto = z.infer<typeof adapterVersionSchema>;

export const adapterSchema = z
  .object({
    id: idSchema('ad'),
    name: z.string(),
    description: z.string().nullable(),
    base_model_id: idSchema('bm'),
    access_group_id: idSchema('grp').nullable(),
    status: z.enum(['active', 'archived', 'deleted']),
    latest_ready_version: z.number().int().nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Adapter' });
export type AdapterDto = z.infer<typeof adapterSchema>;

export const updateAdapterSchema = z
  .strictObject({
    description: text(1000).nullable().optional(),
    access_group_id: idSchema('grp')
      .nullable()
      .optional()
      .describe('Who may use the adapter: a group, or null for the whole tenant'),
  })
  .meta({ id: 'UpdateAdapterRequest' });
export type UpdateAdapter = z.infer<typeof updateAdapterSchema>;

export const createAdapterSchema = z
  .strictObject({
    name: text(100).regex(
      /^[a-z0-9][a-z0-9._-]*$/,
      'lowercase letters, digits, dot, dash and underscore, starting with a letter or digit',
    ),
    base_model: text(200).min(1).describe('A base model, by id (bm_…) or name'),
    description: text(1000).optional(),
    access_group_id: idSchema('grp').optional(),
  })
  .meta({ id: 'CreateAdapterRequest' });
export type CreateAdapter = z.infer<typeof createAdapterSchema>;

/** PEFT's adapter_config.json, the fields Tessera reads (others are kept out). */
export const peftConfigSchema = z
  .looseObject({
    peft_type: z.literal('LORA'),
    r: z.number().int().min(1).max(256),
    lora_alpha: z.number().positive().optional(),
  })
  .meta({ id: 'PeftAdapterConfig' });
export type PeftConfig = z.infer<typeof peftConfigSchema>;
