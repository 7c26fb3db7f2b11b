import { z } from 'zod';
import { idSchema } from './id.js';
import { modelReference } from './inference.js';
import { text } from './text.js';

const timestamp = z.iso.datetime();

export const compositionMethodSchema = z
  .enum(['linear', 'cat', 'ties', 'dare_linear', 'dare_ties', 'learned_gate', 'centroid'])
  .describe(
    "Weight-space merges (linear, cat, ties, dare_linear, dare_ties: PEFT's definitions), a learned per-token gate over the members, or centroid (a knowledge base of partitions, made by partitioned fine-tunes)",
  )
  .meta({ id: 'CompositionMethod' });

export const createCompositionSchema = z
  .strictObject({
    name: text(100)
      .regex(
        /^[a-z0-9][a-z0-9._-]*$/,
        'lowercase letters, digits, dot, dash and underscore, starting with a letter or digit',
      )
      .describe('A new name, or an existing one to make its next version'),
    method: z.enum(['linear', 'cat', 'ties', 'dare_linear', 'dare_ties', 'learned_gate']),
    members: z
      .array(
        z.strictObject({
          adapter: modelReference(120).describe('adapter or adapter@version'),
          weight: z.number().min(-10).max(10).optional().describe('Default 1'),
        }),
      )
      .min(1)
      .max(16),
    params: z
      .strictObject({
        density: z.number().gt(0).max(1).optional().describe('ties, dare_*: share of entries kept (default 0.5)'),
        seed: z
          .number()
          .int()
          .min(0)
          .max(2 ** 31 - 1)
          .optional()
          .describe('dare_*: drop masks; learned_gate: data order'),
        majority_sign_method: z.enum(['total', 'frequency']).optional().describe('ties, dare_ties'),
        dataset_id: idSchema('ds').optional().describe('learned_gate: the data the gate learns to route'),
        max_steps: z.number().int().min(1).max(2000).optional().describe('learned_gate (default 60)'),
        learning_rate: z.number().gt(0).max(1).optional().describe('learned_gate (default 0.1)'),
      })
      .optional(),
    access_group_id: idSchema('grp')
      .optional()
      .describe('Who may use the composition (every member must be usable by the caller too)'),
  })
  .meta({ id: 'CreateCompositionRequest' });
export type CreateComposition = z.infer<typeof createCompositionSchema>;

export const compositionSchema = z
  .object({
    id: idSchema('cmp'),
    object: z.literal('composition'),
    name: z.string(),
    version: z.number().int(),
    method: compositionMethodSchema,
    status: z
      .enum(['queued', 'building', 'ready', 'stale', 'failed', 'archived'])
      .describe(
        'stale: a member version went stale by a deletion; not served, its artifact erased, until rebuilt over the retrained versions',
      ),
    base_model_id: idSchema('bm').nullable(),
    members: z.array(
      z.object({
        adapter_id: idSchema('ad'),
        adapter: z.string(),
        version: z.number().int().nullable().describe('The pinned version; null follows the latest ready one'),
        weight: z.number(),
      }),
    ),
    params: z.record(z.string(), z.unknown()),
    access_group_id: idSchema('grp').nullable(),
    job_id: idSchema('job').nullable().describe('The compose job that builds it'),
    error: z.string().nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Composition' });
export type CompositionDto = z.infer<typeof compositionSchema>;
