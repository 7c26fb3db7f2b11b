import { z } from 'zod';
import { idSchema } from './id.js';

const timestamp = z.iso.datetime();

export const usageQuerySchema = z.strictObject({
  since: z.iso.datetime({ offset: true }).optional().describe('Start of the window (default: 7 days ago)'),
  until: z.iso.datetime({ offset: true }).optional().describe('End of the window (default: now)'),
});
export type UsageQuery = z.infer<typeof usageQuerySchema>;

export const adapterUsageSchema = z
  .object({
    adapter_id: idSchema('ad')
      .nullable()
      .describe('The adapter that weighed most in each request; null when the base model answered alone'),
    adapter_name: z.string().nullable(),
    requests: z.number().int(),
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
  })
  .meta({ id: 'AdapterUsage' });

export const tenantUsageSchema = z
  .object({
    object: z.literal('usage'),
    since: timestamp,
    until: timestamp,
    data: z.array(adapterUsageSchema).describe('One row per adapter, most requests first'),
  })
  .meta({ id: 'TenantUsage' });
export type UsageDto = z.infer<typeof tenantUsageSchema>;

export const queueDepthSchema = z
  .object({
    name: z.enum(['train', 'compose']),
    waiting: z.number().int(),
    active: z.number().int(),
    delayed: z.number().int().describe('Waiting out a retry backoff'),
  })
  .meta({ id: 'QueueDepth' });

export const queuesSchema = z
  .object({
    object: z.literal('queues'),
    data: z
      .array(queueDepthSchema)
      .describe("The platform's job queues (all tenants' jobs, as counts only): what a new job waits behind"),
    jobs: z
      .object({ queued: z.number().int(), running: z.number().int() })
      .describe("This tenant's own jobs of every kind"),
  })
  .meta({ id: 'Queues' });
export type QueuesDto = z.infer<typeof queuesSchema>;
