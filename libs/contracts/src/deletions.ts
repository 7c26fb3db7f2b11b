import { z } from 'zod';
import { idSchema } from './id.js';
import { text } from './text.js';

const timestamp = z.iso.datetime();

/** Documents to delete: by id (doc_…), or by the dataset and the document_id its records gave. */
export const deletionTargetSchema = z.union([
  z.strictObject({ document_id: idSchema('doc') }),
  z.strictObject({
    dataset_id: idSchema('ds'),
    document_id: text(200).min(1).describe('The document_id of its records'),
  }),
]);

export const createDeletionSchema = z
  .strictObject({
    documents: z.array(deletionTargetSchema).min(1).max(100),
    reason: text(500).optional(),
  })
  .meta({ id: 'CreateDeletionRequest' });
export type CreateDeletion = z.infer<typeof createDeletionSchema>;

/** A deletion's steps, in the order the worker takes them. */
export const DELETION_STEP_NAMES = [
  'marked_stale',
  'audited_before',
  'weights_erased',
  'caches_evicted',
  'retrained',
  'compositions_rebuilt',
  'audited_after',
  'data_erased',
  'completed',
] as const;

export const deletionStepSchema = z
  .object({
    name: z.enum(DELETION_STEP_NAMES),
    at: timestamp,
    detail: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'DeletionStep' });

const lossFigures = z.object({
  mean: z.number(),
  min: z.number(),
  max: z.number(),
  std: z.number(),
  count: z.number().int(),
});

export const deletionProofSchema = z
  .object({
    deleted_loss_before: z
      .number()
      .describe("The deleted documents' mean loss per token under the tenant's adapters before deletion (nats)"),
    deleted_loss_after: z.number().describe('The same after the retrain'),
    held_out: lossFigures
      .nullable()
      .describe(
        "Loss of the tenant's documents that no adapter ever trained on, under the same routing: what never-seen text scores",
      ),
    verdict: z
      .enum(['looks_unseen', 'inconclusive'])
      .describe(
        'looks_unseen only when the deleted text scored like trained text before (below the line) and like never-seen text after (at or above it); see statistic',
      ),
    verdict_reason: z.string().describe('The verdict in words, with the figures it rests on'),
    looks_unseen: z.boolean().describe('verdict is looks_unseen'),
    statistic: z
      .object({
        unseen_line: z.number().describe('held_out.mean − margin: below it, text scores like trained text'),
        margin: z.number().describe('max(2 · held_out.std, 0.05) nats/token'),
        z_before: z
          .number()
          .nullable()
          .describe('(deleted_loss_before − held_out.mean) / held_out.std; null when std is 0'),
        z_after: z.number().nullable().describe('The same after the retrain'),
      })
      .nullable()
      .describe('null when there are fewer than 3 never-trained documents to compare with'),
    retrained_versions: z.array(
      z.object({
        adapter_id: idSchema('ad'),
        old_version: z.number().int(),
        new_version: z.number().int().nullable(),
        seconds: z.number(),
      }),
    ),
    caches_evicted: z
      .object({
        workers: z.number().int().describe('Workers subscribed when the eviction was broadcast'),
        acknowledged: z.number().int().describe('Workers that confirmed the stale weights left their memory'),
        timed_out: z.boolean().describe('Some worker did not answer within CACHE_EVICTION_TIMEOUT_MS'),
      })
      .describe(
        "Every worker's adapter cache, composition artifacts, slot pool and cached prompt prefixes, cleared of the stale weights",
      ),
  })
  .meta({ id: 'DeletionProof' });
export type DeletionProof = z.infer<typeof deletionProofSchema>;

export const deletionSchema = z
  .object({
    id: idSchema('del'),
    object: z.literal('deletion'),
    status: z.enum(['pending', 'retraining', 'auditing', 'completed', 'failed']),
    reason: z.string().nullable(),
    documents: z.array(idSchema('doc')),
    affected_versions: z
      .array(idSchema('adv'))
      .describe('Adapter versions the documents trained: stale from the moment of the request, never served again'),
    steps: z.array(deletionStepSchema),
    proof: deletionProofSchema.nullable(),
    error: z.string().nullable(),
    created_at: timestamp,
    completed_at: timestamp.nullable(),
  })
  .meta({ id: 'Deletion' });
export type DeletionDto = z.infer<typeof deletionSchema>;
